"""Scores on real datasets while pretraining, and the learning curve they draw.

Synthetic loss says little about real tables, so a callback scores the network being
trained, through the public estimators, on a fixed list of OpenML datasets (ROC-AUC for
classification, R² for regression, cross-validated). The same scoring turns saved
checkpoints into a learning curve: score against training time and tables seen.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import lightning as L
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

from benchmarks.datasets import DEFAULT_DATA_DIR, find_parquet, load_parquet
from pretraining.module import TabularICLModule
from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.checkpoint import save_checkpoint
from tabicl.model import TabularICL

SUITE_OF_TASK = {"classification": "cc18", "regression": "ctr23"}


def available_datasets(names: list[str], data_dir: str | Path, task: str) -> list[str]:
    """The ``names`` found under ``data_dir``; a warning names the missing ones."""
    found, missing = [], []
    for name in names:
        try:
            find_parquet(data_dir, SUITE_OF_TASK[task], name)
            found.append(name)
        except FileNotFoundError:
            missing.append(name)
    if missing:
        warnings.warn(
            f"validation datasets {missing} not found under {data_dir}; they are skipped",
            stacklevel=2,
        )
    return found


def score_model(
    model: TabularICL,
    names: list[str],
    data_dir: str | Path,
    folds: int = 3,
    max_rows: int = 1000,
    n_estimators: int = 1,
    seed: int = 0,
) -> dict[str, float]:
    """Cross-validated ROC-AUC (classification) or R² (regression) of ``model`` per dataset.

    Each dataset is subsampled to ``max_rows`` rows (seeded) so that scoring stays a
    small share of training time.
    """
    task = model.config.task
    estimator_class = TabICLClassifier if task == "classification" else TabICLRegressor
    metric = "roc_auc_ovr" if task == "classification" else "r2"
    splitter = StratifiedKFold if task == "classification" else KFold
    scores = {}
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(model, directory)
        for name in names:
            X, y = load_parquet(find_parquet(data_dir, SUITE_OF_TASK[task], name))
            if len(X) > max_rows:
                rows = np.random.default_rng(seed).choice(len(X), max_rows, replace=False)
                X, y = X.iloc[rows], y.iloc[rows]
            estimator = estimator_class(
                n_estimators=n_estimators, model_path=directory, random_state=seed
            )
            cv = splitter(folds, shuffle=True, random_state=seed)
            scores[name] = float(cross_val_score(estimator, X, y, cv=cv, scoring=metric).mean())
    return scores


class RealDataValidation(L.Callback):
    """Logs ``val/<dataset>`` and ``val/mean`` every ``every_n_steps`` optimiser steps.

    Parameters
    ----------
    datasets : list of str
        OpenML names (CC18 for classifiers, CTR23 for regressors) under ``data_dir``;
        missing ones are skipped with a warning.
    data_dir : str, optional
        A folder laid out like ``../shared/datasets`` (the default).
    every_n_steps : int
    folds, max_rows, n_estimators : int
        See :func:`score_model`.
    """

    def __init__(
        self,
        datasets: list[str],
        data_dir: str | None = None,
        every_n_steps: int = 500,
        folds: int = 3,
        max_rows: int = 1000,
        n_estimators: int = 1,
    ) -> None:
        self.datasets = datasets
        self.data_dir = DEFAULT_DATA_DIR if data_dir is None else data_dir
        self.every_n_steps = every_n_steps
        self.folds = folds
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self._names: list[str] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._names = available_datasets(self.datasets, self.data_dir, pl_module.model.config.task)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if not (self._names and trainer.is_global_zero) or trainer.global_step % self.every_n_steps:
            return
        pl_module.model.eval()
        scores = score_model(
            pl_module.model,
            self._names,
            self.data_dir,
            self.folds,
            self.max_rows,
            self.n_estimators,
        )
        pl_module.model.train()
        metrics = {f"val/{name}": score for name, score in scores.items()}
        metrics["val/mean"] = float(np.mean(list(scores.values())))
        # Straight to the loggers: self.log would drop them between log_every_n_steps.
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)


def score_checkpoints(
    checkpoints: list[str | Path], names: list[str], data_dir: str | Path, **score_args
) -> pd.DataFrame:
    """One row per (checkpoint, dataset): step, train_seconds, tables_seen, score."""
    rows = []
    for path in checkpoints:
        state = torch.load(path, map_location="cpu", weights_only=False)  # our own file
        module = TabularICLModule.load_from_checkpoint(path, map_location="cpu", init_from=None)
        names_here = available_datasets(names, data_dir, module.model.config.task)
        for name, score in score_model(module.model, names_here, data_dir, **score_args).items():
            rows.append(
                {
                    "checkpoint": str(path),
                    "step": state["global_step"],
                    "train_seconds": state.get("train_seconds", 0.0),
                    "tables_seen": state.get("tables_seen", 0),
                    "dataset": name,
                    "score": score,
                }
            )
    return pd.DataFrame(rows).sort_values(["step", "dataset"], ignore_index=True)


def plot_learning_curve(curve: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Mean validation score against training minutes and against tables seen.

    ``curve`` has columns ``train_seconds``, ``tables_seen`` and ``score`` (one row per
    evaluation; scores of one evaluation are averaged), plus optional ``run`` to draw
    several runs.
    """
    if "run" not in curve:
        curve = curve.assign(run="")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for run, points in curve.groupby("run", sort=False):
        points = points.groupby(["train_seconds", "tables_seen"], as_index=False)["score"].mean()
        axes[0].plot(points["train_seconds"] / 60, points["score"], marker="o", label=run)
        axes[1].plot(points["tables_seen"], points["score"], marker="o", label=run)
    axes[0].set_xlabel("training wall time (min)")
    axes[1].set_xlabel("synthetic and real tables seen")
    axes[1].set_xscale("log")
    axes[0].set_ylabel("mean validation score")
    if curve["run"].nunique() > 1 or curve["run"].iloc[0]:
        axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
