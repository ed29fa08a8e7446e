"""Fine-tuning at fit against none, on named sets of a suite: one JSON line per set and
variant, the mean over the first ``FOLDS`` (default 3) of the benchmark's 3 folds.

A variant is ``steps``, or ``steps:learning_rate:episode_rows``, which overrides the
task's ``FINE_TUNING`` budget for that variant (the defaults' comparison is ``0`` against
``auto``). The comparison in docs/architecture.md, "Fine-tuning at fit"::

    OMP_NUM_THREADS=1 python benchmarks/checks/fine_tuning.py ctr23 \\
        airfoil_self_noise,energy_efficiency 0,auto,30,100:3e-4:256
"""

import os
import sys

from benchmarks.checks import compare_variants
from tabicl import estimators

defaults = dict(estimators.FINE_TUNING)


def make_model(split, variant):
    steps, *overrides = variant.split(":")
    budget = defaults[split.task]
    if overrides:
        budget = budget._replace(learning_rate=float(overrides[0]), episode_rows=int(overrides[1]))
    estimators.FINE_TUNING[split.task] = budget
    return split.Estimator(random_state=0, fine_tune_steps=steps if steps == "auto" else int(steps))


suite, names, variants = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
compare_variants(suite, names, variants, make_model, int(os.environ.get("FOLDS", 3)))
