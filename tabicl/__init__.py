"""In-context foundation models for tables: scikit-learn estimators that learn from
demonstrations (the training rows) in one forward pass, with no gradient steps."""

from tabicl.estimators import TabICLClassifier, TabICLRegressor

__all__ = ["TabICLClassifier", "TabICLRegressor"]
__version__ = "0.1.0"
