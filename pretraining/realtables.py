"""Self-supervised tasks from real tables (TabDPT-style): a random column becomes the target.

Real tables bring what synthetic priors miss: the marginals, correlations and column
types of data people actually have. A task takes a random subset of a table's rows, a
random column as the target (cut into classes when it is continuous and the task is
classification) and random other columns as features.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from pretraining.priors import Table, cut_into_classes


@dataclass(frozen=True)
class RealTable:
    """A table as floats: category codes for categorical columns, NaN for missing."""

    values: np.ndarray  # (rows, columns)
    categorical: np.ndarray  # (columns,) bool


def encode(frame: pd.DataFrame) -> RealTable:
    columns, categorical = [], []
    for _, column in frame.items():
        is_numeric = pd.api.types.is_numeric_dtype(column) and not isinstance(
            column.dtype, pd.CategoricalDtype
        )
        if is_numeric:
            columns.append(pd.to_numeric(column, errors="coerce").to_numpy(np.float64))
        else:
            codes = column.astype("category").cat.codes.to_numpy(np.float64)
            columns.append(np.where(codes < 0, np.nan, codes))
        categorical.append(not is_numeric)
    values = np.stack(columns, axis=1)
    values[~np.isfinite(values)] = np.nan
    return RealTable(values, np.array(categorical))


@cache
def load_real_tables(directory: str) -> tuple[RealTable, ...]:
    """Every ``*.parquet`` table under ``directory``, encoded once per process."""
    paths = sorted(Path(directory).glob("*.parquet"))
    if not paths:
        raise FileNotFoundError(
            f"no .parquet tables under {directory!r}: point real_tables at a folder of "
            "parquet files (e.g. ../shared/realtables) or set p_real: 0"
        )
    return tuple(encode(pd.read_parquet(path)) for path in paths)


def _target(
    rng: np.random.Generator, column: np.ndarray, is_categorical: bool, task: str, max_classes: int
) -> np.ndarray | None:
    """The column as a target for ``task``, or None when it cannot serve."""
    levels = np.unique(column)
    if task == "regression":
        return None if is_categorical or len(levels) < 10 else column
    if len(levels) < 2:
        return None
    if len(levels) > max_classes and not is_categorical:
        return cut_into_classes(rng, column, max_classes)
    # Keep the most frequent levels; the rest become one "other" class.
    ids = np.searchsorted(levels, column)
    counts = np.bincount(ids, minlength=len(levels))
    kept = np.argsort(-counts, kind="stable")[: max_classes - (len(levels) > max_classes)]
    relabel = np.full(len(levels), len(kept))
    relabel[kept] = rng.permutation(len(kept))
    return relabel[ids].astype(np.float64)


def sample_real_task(
    rng: np.random.Generator,
    tables: tuple[RealTable, ...],
    n_rows: int,
    n_features: int,
    task: str,
    max_classes: int,
    attempts: int = 20,
) -> Table | None:
    """A task of ``n_rows`` x ``n_features`` cut from a random table, or None if none fits.

    Features beyond the table's own columns are left missing (at most half of them).
    """
    for _ in range(attempts):
        table = tables[rng.integers(len(tables))]
        n_columns = table.values.shape[1]
        if len(table.values) < n_rows or 2 * (n_columns - 1) < n_features:
            continue
        target_column = int(rng.integers(n_columns))
        rows = np.flatnonzero(~np.isnan(table.values[:, target_column]))
        if len(rows) < n_rows:
            continue
        rows = rng.choice(rows, n_rows, replace=False)
        y = _target(
            rng,
            table.values[rows, target_column],
            bool(table.categorical[target_column]),
            task,
            max_classes,
        )
        if y is None:
            continue
        others = np.delete(np.arange(n_columns), target_column)
        features = rng.permutation(others)[:n_features]
        x = np.full((n_rows, n_features), np.nan)
        x[:, rng.permutation(n_features)[: len(features)]] = table.values[np.ix_(rows, features)]
        return Table(x=x, y=y)
    return None
