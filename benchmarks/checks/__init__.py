"""Scripts behind the one-off comparisons quoted in docs/pretraining.md and the model cards."""

from collections.abc import Iterator
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


def large_set_splits(suite: str, names: list[str]) -> Iterator[HeldOutSplit]:
    """The first fold of 3 of each named set, training rows capped at 10,000 and the
    first 2,000 test rows: the protocol of the neighbourhood checks."""
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
        train, test = next(iter(fold_indices(task, X, y, table.splits, 3, 0)))
        train, test = cap_rows(train, y, task, 10000, 0), test[:2000]
        yield HeldOutSplit(name, task, metric, Estimator, X, y, n_classes, train, test)
