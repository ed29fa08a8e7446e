"""The ensemble the estimators average over, and how many classes become few.

Each member sees the table through its own feature order (a window of the columns when
the table is wider than the model), its own normaliser, its own coding of each
categorical column's levels and its own relabelling of the classes. Half of a
classifier's members code levels in the order of one class's frequency among each
level's rows (rare levels unordered), the way gradient boosting sorts categories before
a split; the others code them in random order, as the prior does. When there are
more classes than the model's ``n_outputs``, a member writes each relabelled class in
a mixed radix of at most ``n_outputs`` symbols per digit, predicts every digit as its
own in-context task, and scores a class by the sum of its digits' log-probabilities;
different relabellings make the members' errors differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tabicl.preprocessing import NORMALIZERS

# Rows at the overall class frequencies added to every level's count, so that a level
# seen a few times sits near the middle of the order rather than at an end.
LEVEL_SMOOTHING = 10.0
# A level with fewer training rows is not ordered by its own labels: ordered by them,
# the levels of an identifier-like column (cylinder-bands' cylinder_number, one row
# each) would sort the rows by their class and hand the network their labels.
MIN_ORDERED_LEVEL_ROWS = 10
# The share of a classifier's members that order levels by a class's frequency: on ten
# CC18 sets with categories, half of them gained 0.011 of ROC-AUC and all of them 0.008
# (cylinder-bands -0.024); with the rare-level rule, all were no better than half
# (docs/architecture.md).
ORDERED_LEVELS_SHARE = 0.5


@dataclass(frozen=True)
class Member:
    features: np.ndarray  # column indices, in the order this member reads them
    normalizer: str
    relabel: np.ndarray | None  # class c becomes relabel[c]; None for regression
    # Categorical column j's level code c becomes level_codes[j][c].
    level_codes: dict[int, np.ndarray]

    def recode(self, x: np.ndarray) -> np.ndarray:
        """Encoded rows ``x`` with each categorical level coded as this member reads it."""
        if not self.level_codes:
            return x
        x = x.copy()
        for column, codes in self.level_codes.items():
            known = ~np.isnan(x[:, column])
            x[known, column] = codes[x[known, column].astype(int)]
        return x


def plan_members(
    n_members: int,
    n_features: int,
    max_features: int,
    n_classes: int | None,
    n_levels: dict[int, int],
    rng: np.random.Generator,
    level_frequencies: dict[int, np.ndarray] | None = None,
) -> list[Member]:
    """Draw ``n_members`` members; normalisers alternate so both are used from two on.

    A table wider than ``max_features`` is dealt out in consecutive windows of one
    shuffled column order, so that successive members cover every column.
    ``n_levels`` maps each categorical column to its number of levels. The first
    :data:`ORDERED_LEVELS_SHARE` of the members (rounded up) code them in ascending
    order of one class's frequency among a level's rows, one class drawn per member
    from ``level_frequencies`` (see :func:`class_frequencies`), which turns a category
    into a feature the network can read monotonically. The others, and every member
    without ``level_frequencies``, code them in their own random order, as the prior
    does.
    """
    coverage = rng.permutation(n_features)
    members = []
    for i in range(n_members):
        if n_features > max_features:
            window = (i * max_features + np.arange(max_features)) % n_features
            features = rng.permutation(coverage[window])
        else:
            features = rng.permutation(n_features)
        relabel = None if n_classes is None else rng.permutation(n_classes)
        if level_frequencies and i < math.ceil(ORDERED_LEVELS_SHARE * n_members):
            c = rng.integers(n_classes)
            # Levels of equal frequency, such as every rare one, fall in random order.
            level_codes = {
                column: np.argsort(np.lexsort((rng.random(len(frequencies[c])), frequencies[c])))
                for column, frequencies in level_frequencies.items()
            }
        else:
            level_codes = {column: rng.permutation(n) for column, n in n_levels.items()}
        members.append(Member(features, NORMALIZERS[i % len(NORMALIZERS)], relabel, level_codes))
    return members


def class_frequencies(
    codes: np.ndarray, n_levels: int, y: np.ndarray, n_classes: int
) -> np.ndarray:
    """``(n_classes, n_levels)``: each class's smoothed share of the rows of each level.

    ``codes`` holds one column's level codes (NaN where missing) and ``y`` the rows'
    class ids. Every level counts :data:`LEVEL_SMOOTHING` extra rows at the overall
    class frequencies; a level of fewer than :data:`MIN_ORDERED_LEVEL_ROWS` rows gets
    the overall frequencies.
    """
    known = ~np.isnan(codes)
    levels, classes = codes[known].astype(int), y[known]
    counts = np.zeros((n_classes, n_levels))
    np.add.at(counts, (classes, levels), 1.0)
    overall = counts.sum(axis=1, keepdims=True) / max(1, len(classes))
    rows = counts.sum(axis=0)
    frequencies = (counts + LEVEL_SMOOTHING * overall) / (rows + LEVEL_SMOOTHING)
    return np.where(rows >= MIN_ORDERED_LEVEL_ROWS, frequencies, overall)


def digit_labels(n_classes: int, n_outputs: int) -> np.ndarray:
    """``(n_digits, n_classes)``: the digit each relabelled class has at each position."""
    n_digits = max(1, math.ceil(math.log(n_classes) / math.log(n_outputs) - 1e-9))
    base = math.ceil(n_classes ** (1 / n_digits) - 1e-9)
    classes = np.arange(n_classes)
    return np.stack([(classes // base**d) % base for d in range(n_digits)])
