"""Default ``TabICLClassifier`` (``MODEL``: a checkpoint directory, default bundled) on
named CC18 sets, 3 folds of the benchmark's splits, one JSON line per set.

The checkpoint comparisons of docs/pretraining.md and the model cards (12 sets where
a nearest-neighbour classifier beats the pre-distance-attention network)::

    SETS=banknote-authentication,vehicle,tic-tac-toe,pc1,wall-robot-navigation,vowel
    SETS=$SETS,cylinder-bands,churn,credit-g,diabetes,steel-plates-fault,qsar-biodeg
    OMP_NUM_THREADS=1 MODEL=DIR python benchmarks/checks/classifier_sets.py $SETS ordinal

``onehot-10`` instead of ``ordinal`` one-hot encodes categoricals of up to 10 levels
first (the comparison on CC18's categorical sets that was not adopted);
``mutual_info`` turns feature selection on (``feature_selection="mutual_info"``).
"""

import json
import os
import sys
import time

import numpy as np
import pandas as pd
from sklearn.preprocessing import LabelEncoder, OneHotEncoder

from benchmarks.datasets import DEFAULT_DATA_DIR, model_ready, parquet_suite
from benchmarks.openml import cap_rows, evaluate, fold_indices
from tabicl import TabICLClassifier

names = sys.argv[1].split(",")
variant = sys.argv[2]
folds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
entries = {e.name: e for e in parquet_suite(DEFAULT_DATA_DIR, "cc18")}


def onehot(X, max_levels):
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    small = [c for c in cats if X[c].nunique() <= max_levels]
    if not small:
        return X
    parts = []
    for c in X.columns:
        if c in small:
            col = X[[c]].astype(object).where(X[[c]].notna(), "__nan__").astype(str)
            oh = pd.DataFrame(OneHotEncoder(sparse_output=False).fit_transform(col), index=X.index)
            oh.columns = [f"{c}={i}" for i in range(oh.shape[1])]
            parts.append(oh)
        else:
            parts.append(X[[c]])
    return pd.concat(parts, axis=1)


for name in names:
    t = entries[name].load()
    X = model_ready(t.X)
    y = LabelEncoder().fit_transform(t.y)
    K = y.max() + 1
    splits = fold_indices("classification", X, y, t.splits, folds, 0)
    kw = {"feature_selection": "mutual_info"} if variant == "mutual_info" else {}
    if variant.startswith("onehot"):
        X = onehot(X, int(variant.split("-")[1]) if "-" in variant else 10)
    scores = []
    start = time.time()
    for tr, te in splits:
        tr = cap_rows(tr, y, "classification", 10000, 0)
        m = TabICLClassifier(random_state=0, model_path=os.environ.get("MODEL"), **kw)
        scores.append(evaluate(m, "classification", X, y, tr, te, K)["roc_auc"])
    print(
        json.dumps(
            dict(
                dataset=name,
                variant=variant,
                width=X.shape[1],
                auc=float(np.mean(scores)),
                s=round(time.time() - start, 1),
            )
        ),
        flush=True,
    )
