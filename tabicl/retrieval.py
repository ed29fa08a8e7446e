"""Which training rows a context holds when the training set exceeds the context budget.

Two answers, both decided once at ``fit`` so that the contexts can be encoded once:

- :func:`stratified_subsample`: a member reads a random subset of the rows that keeps
  the proportions of the classes (or of target-rank bands);
- :class:`Neighbourhoods`: the training rows are clustered; each cluster's context is
  the rows nearest its centre, and a query reads the context of its nearest centre, so
  related rows sit together in one context (TabDPT's retrieval, done per cluster of
  queries instead of per query so that the contexts can be cached).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import resample


def stratified_subsample(strata: np.ndarray, n_rows: int, random_state: int) -> np.ndarray:
    """Sorted indices of ``n_rows`` rows drawn without replacement, stratified by ``strata``."""
    rows = resample(
        np.arange(len(strata)),
        replace=False,
        n_samples=n_rows,
        stratify=strata,
        random_state=random_state,
    )
    return np.sort(rows)


class Neighbourhoods:
    """Clusters of the training rows, each with the ``max_rows`` rows nearest its centre.

    Parameters
    ----------
    max_rows : int
        Rows in each neighbourhood; there are ``ceil(n_rows / max_rows)`` of them, so
        together they hold about as many rows as the training set.
    random_state : int
        Seeds k-means.

    Attributes
    ----------
    rows_ : list of ndarray
        Sorted training-row indices of each neighbourhood.
    """

    def __init__(self, max_rows: int, random_state: int) -> None:
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> Neighbourhoods:
        """Cluster ``X`` (normalised features; NaN reads as the column's centre, 0)."""
        X = np.nan_to_num(X)
        n_clusters = math.ceil(len(X) / self.max_rows)
        self.kmeans_ = KMeans(n_clusters, n_init=1, random_state=self.random_state).fit(X)
        index = NearestNeighbors(n_neighbors=min(self.max_rows, len(X))).fit(X)
        nearest = index.kneighbors(self.kmeans_.cluster_centers_, return_distance=False)
        self.rows_ = [np.sort(rows) for rows in nearest]
        return self

    def assign(self, X: np.ndarray) -> np.ndarray:
        """The neighbourhood each row of ``X`` reads: the one of its nearest centre."""
        return self.kmeans_.predict(np.nan_to_num(X))
