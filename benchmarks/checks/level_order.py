"""A classifier's categorical levels coded by class frequency against random codes: one
JSON line per set and variant, the mean over the first ``FOLDS`` (default 3) of the
benchmark's 3 folds. A variant is the share of members that order levels by a class's
frequency (``0``: every member codes them in random order). The comparison in
docs/architecture.md::

    OMP_NUM_THREADS=1 python benchmarks/checks/level_order.py cc18 \\
        credit-g,credit-approval,cmc,eucalyptus,analcatdata_dmft,cylinder-bands,\\
dresses-sales,car,tic-tac-toe,vowel 0,0.5,1
"""

import os
import sys

from benchmarks.checks import compare_variants
from tabicl import ensemble


def make_model(split, variant):
    ensemble.ORDERED_LEVELS_SHARE = float(variant)
    return split.Estimator(random_state=0)


suite, names, variants = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
compare_variants(suite, names, variants, make_model, int(os.environ.get("FOLDS", 3)))
