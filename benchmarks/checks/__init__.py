"""Scripts behind the one-off comparisons quoted in docs/pretraining.md and the model cards."""

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder

from benchmarks.datasets import DEFAULT_DATA_DIR, model_ready, parquet_suite
from benchmarks.openml import cap_rows, evaluate, fold_indices
from tabicl import TabICLClassifier, TabICLRegressor


class HeldOutSplit(NamedTuple):
    name: str
    task: str
    metric: str
    Estimator: type
    X: pd.DataFrame
    y: np.ndarray
    n_classes: int
    train: np.ndarray
    test: np.ndarray

    def score(self, model) -> float:
        """``model`` fitted on the training rows, scored on the test rows."""
        scores = evaluate(model, self.task, self.X, self.y, self.train, self.test, self.n_classes)
        return scores[self.metric]


def fold_splits(
    suite: str, names: list[str], n_folds: int = 3, max_test_rows: int | None = None
) -> Iterator[HeldOutSplit]:
    """The first ``n_folds`` of 3 benchmark folds of each named set, training rows capped
    at 10,000 (the benchmark's protocol) and at most ``max_test_rows`` test rows."""
    task = "regression" if suite == "ctr23" else "classification"
    metric, Estimator = (
        ("r2", TabICLRegressor) if task == "regression" else ("roc_auc", TabICLClassifier)
    )
    entries = {e.name: e for e in parquet_suite(DEFAULT_DATA_DIR, suite)}
    for name in names:
        table = entries[name].load()
        X = model_ready(table.X)
        if task == "regression":
            y = table.y.to_numpy(float)
        else:
            y = LabelEncoder().fit_transform(table.y)
        n_classes = 0 if task == "regression" else int(y.max() + 1)
        for train, test in fold_indices(task, X, y, table.splits, 3, 0)[:n_folds]:
            train, test = cap_rows(train, y, task, 10000, 0), test[:max_test_rows]
            yield HeldOutSplit(name, task, metric, Estimator, X, y, n_classes, train, test)


def large_set_splits(suite: str, names: list[str]) -> Iterator[HeldOutSplit]:
    """The first fold of 3 of each named set, training rows capped at 10,000 and the
    first 2,000 test rows: the protocol of the neighbourhood checks."""
    return fold_splits(suite, names, n_folds=1, max_test_rows=2000)


def compare_variants(
    suite: str,
    names: list[str],
    variants: list[str],
    make_model: Callable[[HeldOutSplit, str], object],
    n_folds: int = 3,
) -> None:
    """Print one JSON line per set and variant: the mean score over the first ``n_folds``
    folds of the model ``make_model(split, variant)`` returns, and its seconds."""
    scores, seconds = defaultdict(list), defaultdict(float)
    for split in fold_splits(suite, names, n_folds):
        for variant in variants:
            model = make_model(split, variant)
            started = time.perf_counter()
            scores[split.name, variant].append(split.score(model))
            seconds[split.name, variant] += time.perf_counter() - started
            if len(scores[split.name, variant]) == n_folds:
                row = dict(
                    dataset=split.name,
                    variant=variant,
                    train_rows=len(split.train),
                    score=float(np.mean(scores[split.name, variant])),
                    seconds=round(seconds[split.name, variant], 1),
                )
                print(json.dumps(row), flush=True)
