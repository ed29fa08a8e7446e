"""In-context foundation models for tables: scikit-learn estimators that learn from
demonstrations (the training rows) in one forward pass, after a few fine-tuning steps
on them at ``fit``."""

from tabicl.estimators import TabICLClassifier, TabICLRegressor

__all__ = ["TabICLClassifier", "TabICLRegressor"]
__version__ = "0.1.0"
