"""Which columns the network reads: the most informative ones, as many as predict best.

The pretrained network does not learn to ignore columns that carry no signal: on
CTR23's pumadyn32nh, whose target depends on 2 of its 32 columns, R² falls from 0.94
with the 2 columns to 0.37 with all 32 (docs/pretraining.md). :func:`select_columns`
ranks the columns by mutual information with the target (scikit-learn's estimator) and
keeps the top ``k``, choosing ``k`` among powers of two by in-context cross-validation
on the training rows; the whole table is kept unless a smaller one validates better by
more than one standard error.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.feature_selection import mutual_info_classif, mutual_info_regression
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold

# Rows the ranking and the cross-validation read: enough to tell 2 columns from 32
# (pumadyn32nh), few enough that selection costs about one fit per candidate.
SELECTION_ROWS = 2048
# Below this many rows a validation score is too noisy to drop columns on.
MIN_SELECTION_ROWS = 100
N_FOLDS = 3


def rank_columns(
    x: np.ndarray,
    y: np.ndarray,
    categorical: np.ndarray,
    classification: bool,
    random_state: int,
) -> np.ndarray:
    """Column indices of ``x`` (encoded, NaN for missing), most informative first."""
    filled = SimpleImputer(strategy="median", keep_empty_features=True).fit_transform(x)
    information = mutual_info_classif if classification else mutual_info_regression
    scores = information(filled, y, discrete_features=categorical, random_state=random_state)
    return np.argsort(-scores, kind="stable")


def candidate_sizes(n_features: int) -> list[int]:
    """The numbers of top-ranked columns tried: powers of two below ``n_features``, and all."""
    return [2**i for i in range(max(n_features - 1, 1).bit_length()) if 2**i < n_features] + [
        n_features
    ]


def select_columns(
    x: np.ndarray,
    y: np.ndarray,
    categorical: np.ndarray,
    classification: bool,
    score: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    random_state: int,
) -> np.ndarray:
    """Sorted indices of the columns to keep; all of them unless fewer validate better by
    more than one standard error of the paired fold differences.

    Parameters
    ----------
    x : ndarray of shape (n_rows, n_features)
        The encoded training table (NaN for missing values).
    y : ndarray of shape (n_rows,)
        Class ids or regression targets.
    categorical : ndarray of bool, shape (n_features,)
    classification : bool
    score : callable
        ``score(train_rows, test_rows, columns)``: the validation score (higher is
        better) of the network reading ``columns`` of ``train_rows`` as context and
        predicting ``test_rows``.
    random_state : int

    Returns
    -------
    ndarray of int
    """
    n_rows, n_features = x.shape
    everything = np.arange(n_features)
    if n_features < 2 or n_rows < MIN_SELECTION_ROWS:
        return everything
    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.permutation(n_rows)[:SELECTION_ROWS])
    order = rank_columns(x[rows], y[rows], categorical, classification, random_state)
    stratify = classification and np.bincount(y[rows]).min() >= N_FOLDS
    folds = (StratifiedKFold if stratify else KFold)(
        N_FOLDS, shuffle=True, random_state=random_state
    )
    splits = [(rows[a], rows[b]) for a, b in folds.split(rows, y[rows])]
    scores = {}  # k -> validation score per fold
    for k in candidate_sizes(n_features):
        columns = np.sort(order[:k])
        scores[k] = np.array([score(train, test, columns) for train, test in splits])
    best = max(scores, key=lambda k: (scores[k].mean(), k))  # ties keep more columns
    gain = scores[best] - scores[n_features]
    # Fewer columns only when they beat all of them by more than one standard error of
    # the paired fold differences: on small tables the folds' scores are noisy.
    if gain.mean() <= gain.std(ddof=1) / np.sqrt(len(gain)):
        return everything
    return np.sort(order[:best])
