"""What a neighbourhood holds: its cluster's own rows (the current rule) against the
``rows`` rows nearest its centre (the rule before it, kept here), on the CC18 and CTR23
sets above 2,048 training rows. One fold of 3, training rows capped at 10,000, the first
2,000 test rows; default estimators otherwise. The comparison in docs/pretraining.md::

    OMP_NUM_THREADS=1 python benchmarks/checks/neighbourhoods.py cc18 adult,bank-marketing,...
    OMP_NUM_THREADS=1 python benchmarks/checks/neighbourhoods.py ctr23 cpu_activity,diamonds,...
"""

import json
import math
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.neighbors import NearestNeighbors

from benchmarks.datasets import DEFAULT_DATA_DIR, model_ready, parquet_suite
from benchmarks.openml import cap_rows, fold_indices
from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.retrieval import Neighbourhoods

own_rows = Neighbourhoods.fit


def nearest_the_centre(self, X):
    """The previous rule: rows of a cluster far from its centre were in no context."""
    X = np.nan_to_num(X)
    n_clusters = math.ceil(len(X) / self.rows)
    self.kmeans_ = KMeans(n_clusters, n_init=1, random_state=self.random_state).fit(X)
    index = NearestNeighbors(n_neighbors=min(self.rows, len(X))).fit(X)
    nearest = index.kneighbors(self.kmeans_.cluster_centers_, return_distance=False)
    self.rows_ = [np.sort(rows) for rows in nearest]
    return self


suite, names = sys.argv[1], sys.argv[2].split(",")
task = "regression" if suite == "ctr23" else "classification"
entries = {e.name: e for e in parquet_suite(DEFAULT_DATA_DIR, suite)}
for name in names:
    t = entries[name].load()
    X = model_ready(t.X)
    y = t.y.to_numpy(float) if task == "regression" else t.y.to_numpy()
    train, test = next(iter(fold_indices(task, X, y, t.splits, 3, 0)))
    train, test = cap_rows(train, y, task, 10000, 0), test[:2000]
    row = dict(dataset=name)
    for rule, fit in [("nearest_the_centre", nearest_the_centre), ("own_rows", own_rows)]:
        Neighbourhoods.fit = fit
        if task == "regression":
            model = TabICLRegressor(random_state=0).fit(X.iloc[train], y[train])
            row[rule] = r2_score(y[test], model.predict(X.iloc[test]))
        else:
            model = TabICLClassifier(random_state=0).fit(X.iloc[train], y[train])
            proba = model.predict_proba(X.iloc[test])
            row[rule] = (
                roc_auc_score(y[test], proba[:, 1])
                if proba.shape[1] == 2
                else roc_auc_score(y[test], proba, multi_class="ovr", labels=model.classes_)
            )
        row[f"{rule}_mean_rows"] = float(np.mean([len(r) for r in model.neighbourhoods_.rows_]))
    print(json.dumps(row), flush=True)
