"""Default ``TabICLRegressor`` (``MODEL``: checkpoint directory; ``ROWS``: max_context_rows,
default "auto") on named CTR23 sets, 3 folds, training rows capped at 10,000.

The checkpoint comparisons of docs/pretraining.md and the model cards::

    OMP_NUM_THREADS=1 MODEL=DIR python benchmarks/checks/regressor_sets.py \
        airfoil_self_noise,concrete_compressive_strength,energy_efficiency,QSAR_fish_toxicity,red_wine,socmob,space_ga,kin8nm,cpu_activity
"""

import json
import os
import sys
import time

import numpy as np

from benchmarks.datasets import DEFAULT_DATA_DIR, model_ready, parquet_suite
from benchmarks.openml import cap_rows, evaluate, fold_indices
from tabicl import TabICLRegressor

entries = {e.name: e for e in parquet_suite(DEFAULT_DATA_DIR, "ctr23")}
for name in sys.argv[1].split(","):
    t = entries[name].load()
    X = model_ready(t.X)
    y = t.y.to_numpy(float)
    s = []
    start = time.time()
    for tr, te in fold_indices("regression", X, y, t.splits, 3, 0):
        tr = cap_rows(tr, y, "regression", 10000, 0)
        s.append(
            evaluate(
                TabICLRegressor(
                    random_state=0,
                    model_path=os.environ.get("MODEL"),
                    max_context_rows=int(os.environ.get("ROWS", 0)) or "auto",
                ),
                "regression",
                X,
                y,
                tr,
                te,
                0,
            )["r2"]
        )
    print(
        json.dumps(dict(dataset=name, r2=float(np.mean(s)), s=round(time.time() - start, 1))),
        flush=True,
    )
