"""Fine-tuning at fit against none, on named sets of a suite: one JSON line per set and
variant, the mean over the first ``FOLDS`` (default 3) of the benchmark's 3 folds.

A variant is ``steps``, or ``steps:learning_rate:episode_rows``, which overrides the
estimators' constants for that variant (the defaults' comparison is ``0`` against
``auto``). The comparison in docs/architecture.md, "Fine-tuning at fit"::

    OMP_NUM_THREADS=1 python benchmarks/checks/fine_tuning.py ctr23 \\
        airfoil_self_noise,energy_efficiency 0,auto,30,100:3e-4:256
"""

import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

from benchmarks.checks import fold_splits
from tabicl import estimators

suite, names, variants = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
n_folds = int(os.environ.get("FOLDS", 3))
defaults = estimators.FINE_TUNE_LEARNING_RATE, estimators.EPISODE_ROWS
scores, seconds = defaultdict(list), defaultdict(float)
for split in fold_splits(suite, names, n_folds):
    for variant in variants:
        steps, *overrides = variant.split(":")
        learning_rate, episode_rows = defaults
        if overrides:
            learning_rate, episode_rows = float(overrides[0]), int(overrides[1])
        estimators.FINE_TUNE_LEARNING_RATE = learning_rate
        estimators.EPISODE_ROWS = episode_rows
        model = split.Estimator(
            random_state=0, fine_tune_steps=steps if steps == "auto" else int(steps)
        )
        started = time.perf_counter()
        scores[split.name, variant].append(split.score(model))
        seconds[split.name, variant] += time.perf_counter() - started
        if len(scores[split.name, variant]) == n_folds:
            row = dict(
                dataset=split.name,
                variant=variant,
                train_rows=len(split.train),
                score=float(np.mean(scores[split.name, variant])),
                seconds=round(seconds[split.name, variant], 1),
            )
            print(json.dumps(row), flush=True)
