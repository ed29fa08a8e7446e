"""Benchmarks of the package's estimators against the models people would otherwise use."""

import os

# OpenMP threads spin while they wait by default; on a shared CPU a descheduled spinner
# stalls the others, and XGBoost then took 1-90 s for a fit that takes 0.2 s with this.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
