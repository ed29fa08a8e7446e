"""Benchmark tables: scikit-learn's bundled sets and parquet files laid out like OpenML's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn import datasets

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets"


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
