"""Context sizes on held-out tasks cut from ../shared/realtables (never benchmark sets).

A random continuous column of a table with enough rows becomes the target (split at its
median for classification); tasks that HistGradientBoosting cannot learn (R² < 0.2,
ROC-AUC < 0.65) are skipped; each size is the estimator's ``max_context_rows``, 2 folds.
The choice of docs/pretraining.md::

    OMP_NUM_THREADS=1 python benchmarks/checks/context_size.py regression 128,512,2048 25
    export SAMPLE=6000 OMP_NUM_THREADS=1
    python benchmarks/checks/context_size.py classification 128,512,3000 16
    python benchmarks/checks/context_size.py regression 128,512,3000 10

(the two 6,000-row runs were stopped after 6 and 4 tasks).
"""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, StratifiedKFold

from tabicl import TabICLClassifier, TabICLRegressor

task, sizes, n_tasks = sys.argv[1], [int(s) for s in sys.argv[2].split(",")], int(sys.argv[3])
paths = sorted(Path("../shared/realtables").glob("*.parquet"))
rng = np.random.default_rng(123)
done = 0
for path in rng.permutation(paths):
    if done >= n_tasks:
        break
    frame = pd.read_parquet(path)
    if len(frame) < int(os.environ.get("SAMPLE", 4000)) * 3 // 4 or frame.shape[1] < 4:
        continue
    numeric = [
        c
        for c in frame.columns
        if pd.api.types.is_numeric_dtype(frame[c])
        and not pd.api.types.is_bool_dtype(frame[c])
        and frame[c].nunique() >= 50
        and frame[c].notna().all()
    ]
    if not numeric:
        continue
    target = rng.choice(numeric)
    frame = frame.sample(
        n=min(len(frame), int(os.environ.get("SAMPLE", 4000))), random_state=0
    ).reset_index(drop=True)
    X = frame.drop(columns=[target]).iloc[:, :30]
    X = X.astype(
        {
            c: "category"
            for c in X.columns
            if X[c].dtype == object or pd.api.types.is_string_dtype(X[c])
        }
    )
    X = X.astype({c: "float64" for c in X.columns if pd.api.types.is_bool_dtype(X[c])})
    y = frame[target].to_numpy(float)
    if task == "classification":
        y = (y > np.median(y)).astype(int)
        if y.min() == y.max():
            continue
        splits = StratifiedKFold(2, shuffle=True, random_state=0).split(X, y)
    else:
        splits = KFold(2, shuffle=True, random_state=0).split(X)
    splits = list(splits)
    row = dict(table=path.stem, target=str(target), rows=len(X), features=X.shape[1])
    tr, te = splits[0]
    try:
        if task == "classification":
            hgb = roc_auc_score(
                y[te],
                HistGradientBoostingClassifier(categorical_features="from_dtype")
                .fit(X.iloc[tr], y[tr])
                .predict_proba(X.iloc[te])[:, 1],
            )
            if hgb < 0.65:
                continue
        else:
            hgb = r2_score(
                y[te],
                HistGradientBoostingRegressor(categorical_features="from_dtype")
                .fit(X.iloc[tr], y[tr])
                .predict(X.iloc[te]),
            )
            if hgb < 0.2:
                continue
    except ValueError:
        continue
    row["hgb"] = float(hgb)
    try:
        for size in sizes:
            scores = []
            for tr, te in splits:
                if task == "classification":
                    m = TabICLClassifier(random_state=0, max_context_rows=size).fit(
                        X.iloc[tr], y[tr]
                    )
                    scores.append(roc_auc_score(y[te], m.predict_proba(X.iloc[te])[:, 1]))
                else:
                    m = TabICLRegressor(random_state=0, max_context_rows=size).fit(
                        X.iloc[tr], y[tr]
                    )
                    scores.append(r2_score(y[te], m.predict(X.iloc[te])))
            row[str(size)] = float(np.mean(scores))
    except Exception as e:
        print("skip", path.stem, e, file=sys.stderr)
        continue
    done += 1
    print(json.dumps(row), flush=True)
