"""Feature selection at fit: top columns by mutual information, cut by in-context validation."""

import numpy as np
import pandas as pd
import pytest

from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.selection import MIN_SELECTION_ROWS, candidate_sizes

# Selection is decided before fine-tuning, which only slows these tests down.
UNTUNED = {"fine_tune_steps": 0, "random_state": 0}


def two_of_twenty(n=300, seed=0):
    """A target that depends on the first two of twenty columns only."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 20))
    return X, np.sin(2 * X[:, 0]) + X[:, 0] * X[:, 1] + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize(
    "n_features, sizes", [(1, [1]), (2, [1, 2]), (8, [1, 2, 4, 8]), (9, [1, 2, 4, 8, 9])]
)
def test_candidate_sizes_are_powers_of_two_and_everything(n_features, sizes):
    assert candidate_sizes(n_features) == sizes


def test_irrelevant_columns_are_dropped_and_that_predicts_better():
    X, y = two_of_twenty()
    selected = TabICLRegressor(**UNTUNED).fit(X[:200], y[:200])
    everything = TabICLRegressor(feature_selection="none", **UNTUNED).fit(X[:200], y[:200])
    assert {0, 1} <= set(selected.selected_features_) and len(selected.selected_features_) < 20
    assert len(everything.selected_features_) == 20
    assert selected.score(X[200:], y[200:]) > everything.score(X[200:], y[200:]) + 0.2
    assert selected.n_features_in_ == 20  # predict still takes every column


def test_selection_is_reproducible_and_reads_pandas_columns():
    X, y = two_of_twenty()
    frame = pd.DataFrame(X).add_prefix("x")
    first, second = (TabICLRegressor(**UNTUNED).fit(frame, y) for _ in range(2))
    np.testing.assert_array_equal(first.selected_features_, second.selected_features_)
    np.testing.assert_array_equal(first.predict(frame), second.predict(frame))


def test_small_training_sets_keep_every_column():
    X, y = two_of_twenty(n=MIN_SELECTION_ROWS - 1)
    assert len(TabICLRegressor(**UNTUNED).fit(X, y).selected_features_) == 20


def test_a_class_too_rare_for_every_fold_is_still_scored():
    X, y = two_of_twenty(n=150)
    labels = (y > 0).astype(int)
    labels[:2] = 2  # two rows of a third class: some validation folds never see it
    clf = TabICLClassifier(feature_selection="mutual_info", **UNTUNED).fit(X, labels)
    assert clf.predict_proba(X).shape == (150, 3)


def test_classifiers_select_only_when_asked():
    X, y = two_of_twenty()
    labels = (y > 0).astype(int)
    default = TabICLClassifier(**UNTUNED).fit(X[:200], labels[:200])
    asked = TabICLClassifier(feature_selection="mutual_info", **UNTUNED)
    asked.fit(X[:200], labels[:200])
    assert len(default.selected_features_) == 20
    assert 0 in asked.selected_features_ and len(asked.selected_features_) < 20
    assert asked.score(X[200:], labels[200:]) > default.score(X[200:], labels[200:])


def test_bad_feature_selection_raises():
    with pytest.raises(ValueError, match="feature_selection must be one of"):
        TabICLRegressor(feature_selection="lasso").fit(np.ones((4, 2)), [0.0, 1, 0, 1])
