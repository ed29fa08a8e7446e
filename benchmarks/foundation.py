"""Default estimators against LogisticRegression and Ridge with the same 5 folds.

``python -m benchmarks.foundation [--data-dir DIR] [--seeds K] [--tasks T ...] [--out DIR]``
writes ``scores.csv`` and ``summary.md``. The OpenML sets are chosen by rule, before
looking at scores: the first five CC18 sets in MANIFEST order with at most 1,000 rows
and 40 features, and the first three CTR23 sets with at most 1,600 rows.

Our estimators' score is that of ``random_state=0``. Their ensembles and fine-tuning are
random, and near a score of 1 a few test rows decide the comparison, so ``--seeds K``
also fits them with ``random_state`` 1 .. K-1 and reports the mean and the lowest over
the K seeds (the linear baselines are deterministic).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold

from benchmarks.datasets import DEFAULT_DATA_DIR, find_parquet, load_parquet, load_sklearn
from benchmarks.peers import linear_pipeline
from tabicl import TabICLClassifier, TabICLRegressor

CLASSIFICATION = [
    ("sklearn", "breast_cancer"),
    ("sklearn", "wine"),
    ("sklearn", "digits"),
    ("cc18", "balance-scale"),
    ("cc18", "breast-w"),
    ("cc18", "credit-approval"),
    ("cc18", "credit-g"),
    ("cc18", "diabetes"),
]
REGRESSION = [
    ("ctr23", "airfoil_self_noise"),
    ("ctr23", "concrete_compressive_strength"),
    ("ctr23", "energy_efficiency"),
]
SETS = {"classification": CLASSIFICATION, "regression": REGRESSION}


def score(task: str, model, X, y, train, test) -> tuple[float, float]:
    started = time.perf_counter()
    model.fit(X.iloc[train], y.iloc[train])
    if task == "classification":
        proba = model.predict_proba(X.iloc[test])
        value = (
            roc_auc_score(y.iloc[test], proba[:, 1])
            if proba.shape[1] == 2
            else roc_auc_score(y.iloc[test], proba, multi_class="ovr", labels=model.classes_)
        )
    else:
        value = r2_score(y.iloc[test], model.predict(X.iloc[test]))
    return value, time.perf_counter() - started


def run(
    data_dir: Path,
    folds: int,
    seeds: int = 1,
    classifier_path=None,
    regressor_path=None,
    tasks: Sequence[str] = tuple(SETS),
) -> pd.DataFrame:
    rows = []
    for task in tasks:
        for source, name in SETS[task]:
            if source == "sklearn":
                X, y = load_sklearn(name)
            else:
                X, y = load_parquet(find_parquet(data_dir, source, name))
            X = X.astype({c: "float64" for c in X.columns if X[c].dtype == bool})
            if task == "classification":
                splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
                ours, baseline = "TabICLClassifier", "LogisticRegression"
                models = {
                    ours: lambda seed: TabICLClassifier(
                        model_path=classifier_path, random_state=seed
                    ),
                    baseline: lambda seed: linear_pipeline(LogisticRegression(max_iter=2000)),
                }
            else:
                splitter = KFold(folds, shuffle=True, random_state=0)
                ours, baseline = "TabICLRegressor", "Ridge"
                models = {
                    ours: lambda seed: TabICLRegressor(
                        model_path=regressor_path, random_state=seed
                    ),
                    baseline: lambda seed: linear_pipeline(Ridge()),
                }
            for fold, (train, test) in enumerate(splitter.split(X, y)):
                for model_name, make in models.items():
                    for seed in range(seeds if model_name == ours else 1):
                        value, seconds = score(task, make(seed), X, y, train, test)
                        rows.append(
                            dict(
                                task=task,
                                dataset=name,
                                fold=fold,
                                model=model_name,
                                seed=seed,
                                metric="roc_auc" if task == "classification" else "r2",
                                score=value,
                                seconds=seconds,
                            )
                        )
                        print(
                            f"{name:32s} fold {fold} {model_name:20s} seed {seed} "
                            f"{value:.4f} {seconds:6.1f}s",
                            flush=True,
                        )
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame) -> str:
    lines = []
    for task, group in scores.groupby("task", sort=False):
        first = group[group["seed"] == 0]
        table = first.pivot_table(
            index="dataset", columns="model", values="score", aggfunc="mean", sort=False
        )
        seeds = group["seed"].nunique()
        if seeds > 1:
            ours = group.loc[group["seed"] > 0, "model"].iloc[0]
            per_seed = group[group["model"] == ours].pivot_table(
                index="dataset", columns="seed", values="score", aggfunc="mean", sort=False
            )
            table[f"{ours}, mean of {seeds} seeds"] = per_seed.mean(axis=1)
            table[f"{ours}, lowest of {seeds} seeds"] = per_seed.min(axis=1)
        table.loc["mean"] = table.mean()
        metric = group["metric"].iloc[0]
        lines += [
            f"### {task} ({metric}, mean of {group['fold'].nunique()} folds)",
            "",
            table.to_markdown(floatfmt=".4f"),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--seeds", type=int, default=1, help="random_state values of our estimators (0 .. K-1)"
    )
    parser.add_argument("--classifier", default=None, help="checkpoint dir (default: bundled)")
    parser.add_argument("--regressor", default=None, help="checkpoint dir (default: bundled)")
    parser.add_argument(
        "--tasks",
        nargs="+",
        choices=list(SETS),
        default=list(SETS),
        help="scoring one candidate skips the other task's sets",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/foundation"))
    options = parser.parse_args(argv)
    scores = run(
        options.data_dir,
        options.folds,
        options.seeds,
        options.classifier,
        options.regressor,
        options.tasks,
    )
    options.out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(options.out / "scores.csv", index=False)
    summary = summarise(scores)
    (options.out / "summary.md").write_text(summary + "\n")
    print(summary)


if __name__ == "__main__":
    main()
