"""Default estimator on named sets above 2,048 training rows: one fold of 3, training
rows capped at 10,000, the first 2,000 test rows; one JSON line per set. ``N_EST`` sets
``n_estimators`` (default 4).

The comparison behind per-member clusterings (docs/architecture.md) ran this script on
commit 0bf604e (every member reads one shared clustering; from a ``git worktree`` of
it, with ``PYTHONPATH`` pointing there) and on 350454b (each member clusters with its
own seed), with ``N_EST=4`` and, on 350454b, ``N_EST=8``::

    export OMP_NUM_THREADS=1
    python benchmarks/checks/member_clusterings.py cc18 adult,bank-marketing,sick,\
    churn,electricity,jm1,PhishingWebsites,first-order-theorem-proving,letter,optdigits,\
    pendigits,satimage,spambase,wilt,wall-robot-navigation,phoneme,\
    jungle_chess_2pcs_raw_endgame_complete,texture per_member
    python benchmarks/checks/member_clusterings.py ctr23 cpu_activity,abalone,\
    california_housing,cps88wages,diamonds,grid_stability,health_insurance,kin8nm,\
    naval_propulsion_plant,physiochemical_protein,pumadyn32nh,space_ga,white_wine per_member

Results: ``benchmarks/results/neighbourhoods/member_clusterings.jsonl``.
"""

import json
import os
import sys
import time

from benchmarks.checks import large_set_splits

suite, names, tag = sys.argv[1], sys.argv[2].split(","), sys.argv[3]
n_estimators = int(os.environ.get("N_EST", 4))
for split in large_set_splits(suite, names):
    start = time.time()
    model = split.Estimator(n_estimators=n_estimators, random_state=0)
    row = dict(dataset=split.name, suite=suite, rule=tag, n_estimators=n_estimators)
    row |= dict(score=split.score(model), seconds=round(time.time() - start, 1))
    print(json.dumps(row), flush=True)
