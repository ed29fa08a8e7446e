"""The ensemble the estimators average over, and how many classes become few.

Each member sees the table through its own feature order (a window of the columns when
the table is wider than the model), its own normaliser, its own coding of each
categorical column's levels and its own relabelling of the classes. When there are
more classes than the model's ``n_outputs``, a member writes each relabelled class in a
mixed radix of at most ``n_outputs`` symbols per digit, predicts every digit as its own
in-context task, and scores a class by the sum of its digits' log-probabilities;
different relabellings make the members' errors differ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tabicl.preprocessing import NORMALIZERS


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
) -> list[Member]:
    """Draw ``n_members`` members; normalisers alternate so both are used from two on.

    A table wider than ``max_features`` is dealt out in consecutive windows of one
    shuffled column order, so that successive members cover every column.
    ``n_levels`` maps each categorical column to its number of levels; each member
    codes them in its own random order, as the prior does, because the order of
    a category's codes carries no meaning the network could use.
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
        level_codes = {column: rng.permutation(n) for column, n in n_levels.items()}
        members.append(Member(features, NORMALIZERS[i % len(NORMALIZERS)], relabel, level_codes))
    return members


def digit_labels(n_classes: int, n_outputs: int) -> np.ndarray:
    """``(n_digits, n_classes)``: the digit each relabelled class has at each position."""
    n_digits = max(1, math.ceil(math.log(n_classes) / math.log(n_outputs) - 1e-9))
    base = math.ceil(n_classes ** (1 / n_digits) - 1e-9)
    classes = np.arange(n_classes)
    return np.stack([(classes // base**d) % base for d in range(n_digits)])
