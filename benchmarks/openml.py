"""OpenML-CC18 (classification) and OpenML-CTR23 (regression): our estimators against
XGBoost, LightGBM, CatBoost, a random forest and a linear model.

``python -m benchmarks.openml --suite cc18 --folds 5`` runs the whole suite from the
parquet files in ``--data-dir`` (default ``../shared/datasets``); ``--source openml``
fetches the suite's tasks and their official splits instead (the first ``--folds`` of
the 10 official folds). ``--quick`` runs the suite's 8 smallest datasets (by rows) on 2
folds with at most 1,000 training rows.

Protocol: the same shuffled folds (stratified for classification) and seed for every
model; each training fold above ``--max-train-rows`` is cut to that many rows by a
seeded (stratified) subsample, the same for every model; every model at its defaults
(see ``benchmarks/peers.py``), with ``--threads`` threads. A model that raises is
recorded as a failed cell with its error message.

Output in ``benchmarks/results/<run-id>/``: ``results.csv`` (one row per dataset, fold
and model, appended as each finishes), ``metadata.json`` (protocol, commands, hardware,
package versions, commit), ``summary.md``, ``ranks.png`` and ``scores.png``. Running
the same command again skips the finished cells; a cell of ours is recomputed when the
bundled checkpoint changes (and a peer's when its library version does).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    log_loss,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import resample
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from benchmarks.datasets import (
    DEFAULT_DATA_DIR,
    SUITES,
    SuiteDataset,
    model_ready,
    openml_suite,
    parquet_suite,
)
from benchmarks.peers import GBDTS, MODELS, TUNED, make_model, model_version
from benchmarks.reporting import (
    KEY,
    Metric,
    ResultStore,
    complete_datasets,
    dataset_scores,
    environment,
    environment_markdown,
    normalised_scores,
    rank_plot,
    ranks,
    score_plot,
    summary_markdown,
)

METRICS = {
    "classification": [
        Metric("roc_auc", True),
        Metric("accuracy", True),
        Metric("balanced_accuracy", True),
        Metric("log_loss", False),
    ],
    "regression": [Metric("r2", True), Metric("rmse", False)],
}
TIMINGS = [Metric("fit_seconds", False), Metric("predict_seconds_per_1k", False)]
SIZES = ["n_train_fold", "n_train", "n_test"]
PACKAGES = [
    "demoicl", "torch", "scikit-learn", "numpy", "pandas", "xgboost-cpu", "xgboost",
    "lightgbm", "catboost", "openml",
]  # fmt: skip
QUICK = dict(n_datasets=8, folds=2, max_train_rows=1000)
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Protocol:
    """What a run's cells share; a run directory is resumed only with the same protocol."""

    suite: str
    source: str
    folds: int
    max_train_rows: int
    seed: int


def columns(task: str) -> list[str]:
    """The results.csv columns of a suite."""
    return [*KEY, *SIZES, *(m.name for m in METRICS[task] + TIMINGS), "error"]


def fold_indices(
    task: str, X: pd.DataFrame, y: np.ndarray, official, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The official splits' first ``folds`` when the source has them, else seeded k-fold."""
    if official is not None:
        if folds > len(official):
            raise ValueError(f"--folds {folds}, but the task has {len(official)} official folds")
        return official[:folds]
    splitter = StratifiedKFold if task == "classification" else KFold
    return list(splitter(folds, shuffle=True, random_state=seed).split(X, y))


def cap_rows(train: np.ndarray, y: np.ndarray, task: str, max_rows: int, seed: int) -> np.ndarray:
    """At most ``max_rows`` training indices: a seeded subsample, stratified for classes."""
    if len(train) <= max_rows:
        return train
    stratify = y[train] if task == "classification" else None
    chosen = resample(
        train, n_samples=max_rows, replace=False, stratify=stratify, random_state=seed
    )
    return np.sort(chosen)


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict:
    """ROC-AUC (macro one-vs-rest over the classes in the fold), accuracy, balanced
    accuracy, log-loss; ``proba`` has a column for each of the dataset's classes."""
    present = np.unique(y_true)
    predicted = proba.argmax(axis=1)
    return {
        "roc_auc": roc_auc_score(y_true[:, None] == present, proba[:, present], average="macro"),
        "accuracy": accuracy_score(y_true, predicted),
        "balanced_accuracy": balanced_accuracy_score(y_true, predicted),
        "log_loss": log_loss(y_true, proba, labels=np.arange(n_classes)),
    }


def evaluate(model, task, X, y, train, test, n_classes) -> dict:
    """Fit on ``train``, score on ``test``: metrics and timings."""
    started = time.perf_counter()
    model.fit(X.iloc[train], y[train])
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if task == "classification":
        proba = np.zeros((len(test), n_classes))
        # A class missing from a capped training fold gets probability 0.
        proba[:, model.classes_] = model.predict_proba(X.iloc[test])
        metrics = classification_metrics(y[test], proba, n_classes)
    else:
        predicted = model.predict(X.iloc[test])
        metrics = {
            "r2": r2_score(y[test], predicted),
            "rmse": root_mean_squared_error(y[test], predicted),
        }
    predict_seconds = time.perf_counter() - started
    return {
        **metrics,
        "fit_seconds": fit_seconds,
        "predict_seconds_per_1k": 1000 * predict_seconds / len(test),
    }


def run_dataset(entry: SuiteDataset, cells, protocol: Protocol, options, store, progress):
    """Every unfinished (fold, model) cell of one dataset, each appended when done.

    The model version is read again for every cell: a checkpoint exported during a long
    run labels the cells computed with it.
    """
    task = SUITES[protocol.suite].task
    table = entry.load()
    X = model_ready(table.X)
    if task == "classification":
        y = LabelEncoder().fit_transform(table.y)
        n_classes = int(y.max()) + 1
    else:
        y, n_classes = table.y.to_numpy(dtype=np.float64), 0
    splits = fold_indices(task, X, y, table.splits, protocol.folds, protocol.seed)
    categorical = list(X.select_dtypes("category").columns)
    for fold, name in cells:
        progress.set_postfix_str(f"{entry.name} fold {fold} {name}")
        train_fold, test = splits[fold]
        train = cap_rows(train_fold, y, task, protocol.max_train_rows, protocol.seed)
        row = dict(
            dataset=entry.name,
            fold=fold,
            model=name,
            model_version=model_version(name, task, options.tuned_seconds),
            n_train_fold=len(train_fold),
            n_train=len(train),
            n_test=len(test),
            error="",
        )
        try:
            model = make_model(
                name,
                task,
                categorical=categorical,
                threads=options.threads,
                seed=protocol.seed,
                tuned_seconds=options.tuned_seconds,
            )
            row |= evaluate(model, task, X, y, train, test, n_classes)
        except Exception as error:  # a failure is a result: record it, go on
            row["error"] = f"{type(error).__name__}: {error}".replace("\n", " ")
            tqdm.write(f"FAILED {entry.name} fold {fold} {name}: {row['error'][:200]}")
        store.append(row)
        progress.update()


def start_metadata(run_dir: Path, protocol: Protocol, models, versions, argv) -> dict:
    """Check a resumed run's protocol, then add this invocation to ``metadata.json``."""
    path = run_dir / "metadata.json"
    metadata = json.loads(path.read_text()) if path.exists() else {"protocol": asdict(protocol)}
    if metadata["protocol"] != asdict(protocol):
        raise ValueError(
            f"{run_dir} holds a run with protocol {metadata['protocol']}, not "
            f"{asdict(protocol)}: rerun with the same options or pass another --run-id"
        )
    metadata.setdefault("invocations", []).append(
        {
            "command": "python -m benchmarks.openml " + shlex.join(argv),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "models": {m: versions[m] for m in models},
            "environment": environment(PACKAGES),
        }
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(metadata, indent=2) + "\n")
    return metadata


def finish_metadata(run_dir: Path, wall_seconds: float, cells: int) -> None:
    """Record the wall time and cell count of the invocation that just ended."""
    path = run_dir / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["invocations"][-1] |= {"wall_seconds": round(wall_seconds, 1), "cells": cells}
    path.write_text(json.dumps(metadata, indent=2) + "\n")


def write_report(run_dir: Path, protocol: Protocol, models, versions, entries) -> str:
    """``summary.md``, ``ranks.png`` and ``scores.png`` from the current model versions."""
    task = SUITES[protocol.suite].task
    store = ResultStore(run_dir / "results.csv", columns(task))
    results = store.read()
    results = results[
        results["model"].isin(models)
        & (results["model_version"] == results["model"].map(versions))
        & results["dataset"].isin([e.name for e in entries])
    ]
    done = complete_datasets(results, models, protocol.folds)
    invocations = json.loads((run_dir / "metadata.json").read_text())["invocations"]
    # A later run of another checkpoint (a candidate) adds cells this report does not show,
    # so the command and machine quoted are those of the latest run of the shown versions.
    shown = [i for i in invocations if all(versions.get(m) == v for m, v in i["models"].items())]
    last = (shown or invocations)[-1]
    finished = [i for i in invocations if "wall_seconds" in i]
    wall = sum(i["wall_seconds"] for i in finished)
    headline = METRICS[task][0]
    capped = (results["n_train"] < results["n_train_fold"]).sum()
    seconds = results["fit_seconds"] + results["predict_seconds_per_1k"] * results["n_test"] / 1000
    header = [
        f"# {protocol.suite.upper()}: {', '.join(models)}",
        "",
        f"- Latest command of the versions shown: `{last['command']}`",
        f"- Protocol: {protocol.folds} folds (seed {protocol.seed}, source {protocol.source}); "
        f"training folds above {protocol.max_train_rows:,} rows cut to that by a seeded "
        f"subsample ({capped} of {len(results)} cells).",
        f"- Progress: {len(results)} of {len(entries) * protocol.folds * len(models)} cells, "
        f"{len(done)} of {len(entries)} datasets complete; {seconds.sum():,.0f} s of fit + "
        f"predict in the finished cells; wall time {wall:,.0f} s "
        f"over {len(finished)} completed invocation(s) of {len(invocations)}.",
        "- Models: " + ", ".join(f"{m} ({versions[m]})" for m in models),
        "- " + environment_markdown(last["environment"]),
        "",
    ]
    summary = "\n".join(header) + "\n"
    if done:
        summary += summary_markdown(
            results,
            METRICS[task] + TIMINGS,
            headline,
            done,
            f"Results on {len(done)} complete datasets",
        )
        complete = results[results["dataset"].isin(done)]
        scores = dataset_scores(complete, headline.name).reindex(columns=models)
        title = f"{protocol.suite.upper()}, {headline.name}"
        rank_plot(ranks(scores, headline.higher_is_better), run_dir / "ranks.png", title)
        score_plot(
            normalised_scores(scores, headline.higher_is_better), run_dir / "scores.png", title
        )
    (run_dir / "summary.md").write_text(summary)
    return summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.openml", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--suite", choices=sorted(SUITES), required=True)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    source.add_argument("--source", choices=["openml"], default=None)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--max-train-rows", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="8 smallest sets, 2 folds, 1,000 rows")
    parser.add_argument("--datasets", default=None, help="comma-separated names (default: all)")
    parser.add_argument(
        "--tuned-seconds", type=float, default=0.0, help="also each GBDT tuned for this long"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--run-id", default=None, help="default: from suite and protocol")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite summary and plots, run nothing"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.folds, options.max_train_rows = QUICK["folds"], QUICK["max_train_rows"]
    options.models = [m.strip() for m in options.models.split(",") if m.strip()]
    unknown = sorted(set(options.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    if options.tuned_seconds > 0:
        options.models += [m + TUNED for m in options.models if m in GBDTS]
    if options.folds < 2 or options.max_train_rows < 1:
        parser.error("--folds must be at least 2 and --max-train-rows at least 1")
    return options


def main(argv: list[str] | None = None) -> Path:
    """Run (or resume) the benchmark; returns the run directory."""
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    protocol = Protocol(
        suite=options.suite,
        source="openml" if options.source else "files",
        folds=options.folds,
        max_train_rows=options.max_train_rows,
        seed=options.seed,
    )
    task = SUITES[protocol.suite].task
    if options.source:
        entries = openml_suite(protocol.suite)
    else:
        entries = parquet_suite(options.data_dir, protocol.suite)
    if options.datasets:
        wanted = options.datasets.split(",")
        unknown = sorted(set(wanted) - {e.name for e in entries})
        if unknown:
            raise ValueError(f"--datasets: {unknown} are not in {protocol.suite}")
        entries = [e for e in entries if e.name in wanted]
    elif options.quick:
        smallest = sorted(entries, key=lambda e: e.n_rows)[: QUICK["n_datasets"]]
        entries = [e for e in entries if e in smallest]
    run_id = options.run_id or (
        f"{protocol.suite}-{'quick' if options.quick else f'{protocol.folds}fold'}"
        f"{'-openml' if options.source else ''}"
    )
    run_dir = options.out / run_id
    versions = {m: model_version(m, task, options.tuned_seconds) for m in options.models}
    if not options.report_only:
        start_metadata(run_dir, protocol, options.models, versions, argv)
        store = ResultStore(run_dir / "results.csv", columns(task))
        finished = store.finished()
        todo = {
            entry.name: [
                (fold, m)
                for fold in range(protocol.folds)
                for m in options.models
                if (entry.name, str(fold), m, versions[m]) not in finished
            ]
            for entry in entries
        }
        torch.set_num_threads(options.threads)
        started = time.perf_counter()
        with (
            threadpool_limits(options.threads),
            warnings.catch_warnings(),
            tqdm(total=sum(map(len, todo.values())), unit="cell", smoothing=0.05) as progress,
        ):
            warnings.simplefilter("ignore")  # the libraries' chatter would bury the progress bar
            for entry in entries:
                if todo[entry.name]:
                    run_dataset(entry, todo[entry.name], protocol, options, store, progress)
        finish_metadata(run_dir, time.perf_counter() - started, progress.n)
        # The report shows the versions installed now (a checkpoint may have changed).
        versions = {m: model_version(m, task, options.tuned_seconds) for m in options.models}
    print(write_report(run_dir, protocol, options.models, versions, entries))
    return run_dir


if __name__ == "__main__":
    main()
