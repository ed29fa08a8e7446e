"""What a neighbourhood holds: its cluster's own rows (the current rule) against the
``rows`` rows nearest its centre (the rule before it, kept here), on the CC18 and CTR23
sets above 2,048 training rows. One fold of 3, training rows capped at 10,000, the first
2,000 test rows; default estimators otherwise. The comparison in docs/pretraining.md::

    export OMP_NUM_THREADS=1
    python benchmarks/checks/neighbourhoods.py cc18 adult,bank-marketing,sick,churn,\
    electricity,jm1,PhishingWebsites,first-order-theorem-proving,letter,optdigits,\
    pendigits,satimage,spambase,wilt,wall-robot-navigation,phoneme,\
    jungle_chess_2pcs_raw_endgame_complete,texture
    python benchmarks/checks/neighbourhoods.py ctr23 cpu_activity,abalone,\
    california_housing,cps88wages,diamonds,grid_stability,health_insurance,kin8nm,\
    naval_propulsion_plant,physiochemical_protein,pumadyn32nh,space_ga,white_wine

"""

import json
import math
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.neighbors import NearestNeighbors

from benchmarks.checks import large_set_splits
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


for split in large_set_splits(sys.argv[1], sys.argv[2].split(",")):
    row = dict(dataset=split.name)
    for rule, fit in [("nearest_the_centre", nearest_the_centre), ("own_rows", own_rows)]:
        Neighbourhoods.fit = fit
        model = split.Estimator(random_state=0)
        row[rule] = split.score(model)
        sizes = [len(rows) for clustering in model.neighbourhoods_ for rows in clustering.rows_]
        row[f"{rule}_mean_rows"] = float(np.mean(sizes))
    print(json.dumps(row), flush=True)
