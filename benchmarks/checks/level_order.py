"""A classifier's categorical levels coded by class frequency against random codes: one
JSON line per set and variant, the mean over the first ``FOLDS`` (default 3) of the
benchmark's 3 folds. A variant is the share of members that order levels by a class's
frequency (``0``: every member codes them in random order). The comparison in
docs/architecture.md::

    OMP_NUM_THREADS=1 python benchmarks/checks/level_order.py cc18 \
        credit-g,credit-approval,cmc,eucalyptus,analcatdata_dmft,cylinder-bands,\
dresses-sales,car,tic-tac-toe,vowel 0,0.5,1
"""

import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

from benchmarks.checks import fold_splits
from tabicl import ensemble

suite, names, variants = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
n_folds = int(os.environ.get("FOLDS", 3))
scores, seconds = defaultdict(list), defaultdict(float)
for split in fold_splits(suite, names, n_folds):
    for variant in variants:
        ensemble.ORDERED_LEVELS_SHARE = float(variant)
        model = split.Estimator(random_state=0)
        started = time.perf_counter()
        scores[split.name, variant].append(split.score(model))
        seconds[split.name, variant] += time.perf_counter() - started
        if len(scores[split.name, variant]) == n_folds:
            row = dict(
                dataset=split.name,
                variant=variant,
                score=float(np.mean(scores[split.name, variant])),
                seconds=round(seconds[split.name, variant], 1),
            )
            print(json.dumps(row), flush=True)
