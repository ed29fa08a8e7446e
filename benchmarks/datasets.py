"""Benchmark tables: scikit-learn's bundled sets, parquet files laid out like OpenML's,
and the OpenML suites themselves (fetched with the ``openml`` package)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from sklearn import datasets

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@dataclass(frozen=True)
class Suite:
    """A benchmark suite: its folder name under the data directory and its OpenML study."""

    name: str
    task: str  # "classification" or "regression"
    openml_study: int


SUITES = {
    "cc18": Suite("cc18", "classification", openml_study=99),
    "ctr23": Suite("ctr23", "regression", openml_study=353),
}


@dataclass(frozen=True)
class Table:
    """A loaded dataset; ``splits`` holds the official (train, test) indices when known."""

    X: pd.DataFrame
    y: pd.Series
    splits: list[tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class SuiteDataset:
    """One dataset of a suite, described up front and loaded only by ``load()``.

    ``openml_id`` is the dataset id for files, the task id for OpenML's own suite.
    """

    name: str
    openml_id: int
    n_rows: int
    load: Callable[[], Table]


def load_sklearn(name: str) -> tuple[pd.DataFrame, pd.Series]:
    """``breast_cancer``, ``wine``, ``digits``, ``diabetes``... as (X, y)."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True, as_frame=True)
    return X, y


def load_parquet(path: str | Path) -> tuple[pd.DataFrame, pd.Series]:
    """A table whose last column, ``target``, is the label."""
    frame = pd.read_parquet(path)
    if frame.columns[-1] != "target":
        raise ValueError(f"{path}: the last column must be 'target', got {frame.columns[-1]!r}")
    return frame.iloc[:, :-1], frame["target"]


def find_parquet(data_dir: str | Path, suite: str, name: str) -> Path:
    """The file of dataset ``name`` in ``data_dir/<suite>/<openml id>_<name>.parquet``."""
    matches = sorted(Path(data_dir, suite).glob(f"*_{name}.parquet"))
    if not matches:
        raise FileNotFoundError(
            f"no {suite} dataset {name!r} under {data_dir}; pass --data-dir pointing at a "
            "folder laid out like ../shared/datasets"
        )
    return matches[0]


def model_ready(X: pd.DataFrame) -> pd.DataFrame:
    """Bools as 0/1 floats and text columns as pandas ``category``.

    Every model then sees numbers or categories only, which is what the GBDTs' native
    categorical support and scikit-learn's column selectors expect.
    """
    return X.astype(
        {
            column: "float64" if pd.api.types.is_bool_dtype(dtype) else "category"
            for column, dtype in X.dtypes.items()
            if pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
        }
    )


def parquet_suite(data_dir: str | Path, suite: str) -> list[SuiteDataset]:
    """The files ``data_dir/<suite>/<openml id>_<name>.parquet``, in OpenML id order."""
    folder = Path(data_dir, suite)
    paths = list(folder.glob("*_*.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"no <openml id>_<name>.parquet files in {folder}; pass --data-dir pointing at a "
            "folder laid out like ../shared/datasets, or --source openml"
        )

    def entry(path: Path) -> SuiteDataset:
        openml_id, name = path.stem.split("_", 1)
        n_rows = pq.read_metadata(path).num_rows
        return SuiteDataset(name, int(openml_id), n_rows, lambda: Table(*load_parquet(path)))

    return sorted((entry(path) for path in paths), key=lambda d: d.openml_id)


def openml_suite(suite: str) -> list[SuiteDataset]:
    """The suite's OpenML tasks with their official cross-validation splits.

    Needs the ``openml`` package and a network; each task's data and splits are
    downloaded (and cached by ``openml``) when its ``load()`` is called.
    """
    try:
        import openml
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "--source openml needs: pip install -e '.[benchmarks]'"
        ) from error

    tasks = openml.study.get_suite(SUITES[suite].openml_study).tasks

    def entry(task_id: int) -> SuiteDataset:
        task = openml.tasks.get_task(task_id, download_splits=False)

        def load() -> Table:
            X, y = task.get_X_and_y(dataset_format="dataframe")
            _, n_folds, _ = task.get_split_dimensions()
            splits = [task.get_train_test_split_indices(fold=fold) for fold in range(n_folds)]
            return Table(X, y, splits)

        dataset = task.get_dataset()
        return SuiteDataset(
            dataset.name, task_id, int(dataset.qualities["NumberOfInstances"]), load
        )

    return [entry(task_id) for task_id in tasks]
