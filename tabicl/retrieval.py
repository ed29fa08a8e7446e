"""Which training rows a context holds when the training set exceeds the context budget.

Two answers, both decided once at ``fit`` so that the contexts can be encoded once:

- :func:`stratified_subsample`: a member reads a random subset of the rows that keeps
  the proportions of the classes (or of target-rank bands);
- :class:`Neighbourhoods`: the training rows are clustered; each cluster's context is
  its own rows, and a query reads the context of its nearest centre, so related rows
  sit together in one context (TabDPT's retrieval, done per cluster of queries instead
  of per query so that the contexts can be cached).
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
    """Clusters of the training rows; each neighbourhood holds one cluster's rows.

    A cluster smaller than ``rows`` is topped up with the rows nearest its centre, so
    that every context has enough rows to learn from. Every training row (but those
    drawn out of an oversized cluster) is in the neighbourhood of its own cluster, which
    is the one a query at its place reads: an outlying row is never left out of the
    contexts of the queries near it.

    Parameters
    ----------
    rows : int
        Rows per neighbourhood, about: there are ``ceil(n_rows / rows)`` clusters.
    max_rows : int
        A cluster with more rows (k-means leaves one when many rows coincide) keeps a
        random ``max_rows`` of them.
    random_state : int
        Seeds k-means and the draw from an oversized cluster.

    Attributes
    ----------
    rows_ : list of ndarray
        Sorted training-row indices of each neighbourhood.
    """

    def __init__(self, rows: int, max_rows: int, random_state: int) -> None:
        self.rows = rows
        self.max_rows = max_rows
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> Neighbourhoods:
        """Cluster ``X`` (normalised features; NaN reads as the column's centre, 0)."""
        X = np.nan_to_num(X)
        rng = np.random.default_rng(self.random_state)
        n_clusters = math.ceil(len(X) / self.rows)
        self.kmeans_ = KMeans(n_clusters, n_init=1, random_state=self.random_state).fit(X)
        index = NearestNeighbors(n_neighbors=min(self.rows, len(X))).fit(X)
        nearest = index.kneighbors(self.kmeans_.cluster_centers_, return_distance=False)
        self.rows_ = []
        for cluster, near_centre in enumerate(nearest):
            members = np.flatnonzero(self.kmeans_.labels_ == cluster)
            if len(members) > self.max_rows:
                members = rng.choice(members, self.max_rows, replace=False)
            self.rows_.append(np.union1d(members, near_centre))
        return self

    def assign(self, X: np.ndarray) -> np.ndarray:
        """The neighbourhood each row of ``X`` reads: the one of its nearest centre."""
        return self.kmeans_.predict(np.nan_to_num(X))
