"""The scikit-learn contract and input handling of TabICLClassifier and TabICLRegressor."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.ensemble import class_frequencies


@parametrize_with_checks([TabICLClassifier(random_state=0), TabICLRegressor(random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[::3], y.iloc[::3]


def mixed_frame(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "number": rng.standard_normal(n),
            "integer": pd.array(rng.integers(0, 5, n), dtype="Int64"),
            "flag": rng.random(n) < 0.5,
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "city": pd.Series(rng.choice(["paris", "oslo", "lima"], n), dtype="string"),
            "constant": np.ones(n),
        }
    )
    X.loc[::7, "number"] = np.nan
    X.loc[::5, "integer"] = pd.NA
    X.loc[::6, "colour"] = None
    X.loc[::4, "city"] = pd.NA
    y = (X["number"].fillna(0) + (X["colour"] == "red") > 0.3).map({True: "yes", False: "no"})
    return X, y


def test_mixed_types_missing_values_and_unseen_categories():
    X, y = mixed_frame()
    clf = TabICLClassifier(random_state=0).fit(X, y)
    assert list(clf.classes_) == ["no", "yes"]
    assert list(clf.feature_names_in_) == list(X.columns)
    unseen = X.head(3).copy()
    unseen["colour"] = pd.Categorical(["purple", "red", "black"])
    unseen["city"] = pd.Series(["rome", "oslo", None], dtype="string")
    proba = clf.predict_proba(unseen)
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1)


def test_members_code_category_levels_each_their_own_way():
    X, y = mixed_frame()
    clf = TabICLClassifier(n_estimators=4, random_state=0).fit(X, y)
    encoded = clf.encoder_.transform(X)
    categorical = np.flatnonzero(clf.encoder_.categorical_columns_)
    codings = []
    for member in clf.members_:
        recoded = member.recode(encoded)
        assert sorted(member.level_codes) == list(categorical)
        assert np.array_equal(np.isnan(recoded), np.isnan(encoded))  # missing stays missing
        numeric = ~clf.encoder_.categorical_columns_
        assert np.array_equal(recoded[:, numeric], encoded[:, numeric], equal_nan=True)
        codings.append(np.concatenate([member.level_codes[c] for c in categorical]))
    assert len({tuple(coding) for coding in codings}) > 1


def test_half_a_classifiers_members_order_levels_by_a_class_frequency():
    rng = np.random.default_rng(0)
    rates = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3}
    level = rng.choice(list(rates), 400)
    y = rng.random(400) < np.vectorize(rates.get)(level)
    X = pd.DataFrame({"level": level, "noise": rng.standard_normal(400)})
    clf = TabICLClassifier(n_estimators=4, fine_tune_steps=0, random_state=0).fit(X, y)
    # Codes of a, b, c, d by ascending share of True (a d c b), or of False (b c d a).
    by_frequency = ([0, 3, 2, 1], [3, 0, 1, 2])
    assert all(list(member.level_codes[0]) in by_frequency for member in clf.members_[:2])
    reg = TabICLRegressor(n_estimators=4, fine_tune_steps=0, random_state=0).fit(X, y * 1.0)
    assert any(list(member.level_codes[0]) not in by_frequency for member in reg.members_)


def test_a_rare_level_takes_the_overall_class_frequency():
    codes = np.array([0.0] * 50 + [1.0] * 50 + [2.0, np.nan])
    y = np.array([1] * 45 + [0] * 5 + [0] * 45 + [1] * 5 + [1, 1])
    frequencies = class_frequencies(codes, 3, y, 2)
    assert np.allclose(frequencies.sum(axis=0), 1)
    assert frequencies[1, 1] < frequencies[1, 2] < frequencies[1, 0]
    assert np.isclose(frequencies[1, 2], 51 / 101)


def test_an_identifier_column_does_not_leak_labels_through_its_order():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"id": [f"row{i}" for i in range(200)], "x": rng.standard_normal(200)})
    y = rng.random(200) < 0.5
    clf = TabICLClassifier(n_estimators=2, fine_tune_steps=0, random_state=0).fit(X, y)
    for member in clf.members_:
        codes = member.recode(clf.encoder_.transform(X))[:, 0]
        assert abs(np.corrcoef(codes, y)[0, 1]) < 0.3


def test_levels_named_by_numbers_keep_their_numeric_order():
    X = pd.DataFrame(
        {
            "size": pd.Categorical(["10", "9", "2", None, "9", "2"]),
            "colour": ["red", "blue", "red", "green", None, "blue"],
        }
    )
    clf = TabICLClassifier(random_state=0).fit(X, [0, 1, 0, 1, 0, 1])
    encoder = clf.encoder_
    assert list(encoder.numbered_levels_) == [True, False]
    assert np.array_equal(encoder.transform(X)[:, 0], [2, 1, 0, np.nan, 1, 0], equal_nan=True)
    assert all(list(member.level_codes) == [1] for member in clf.members_)


@pytest.mark.parametrize(
    "labels",
    [np.array([3, 7]), np.array(["cat", "dog"]), np.array([True, False]), np.array([0.0, 1.0])],
)
def test_labels_of_any_type(labels):
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    clf = TabICLClassifier(random_state=0).fit(X, labels[y])
    assert set(clf.predict(X)) <= set(labels)
    assert clf.classes_.dtype == labels.dtype


def test_thirty_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(30), 10)
    X = rng.standard_normal((300, 5)) * 0.3 + np.stack([y % 5, y // 5, y % 3, y % 2, y % 7], 1)
    clf = TabICLClassifier(random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 30) and np.allclose(proba.sum(axis=1), 1)
    assert clf.score(X, y) > 1 / 30


def test_one_column_and_one_query_row():
    X = np.linspace(0, 1, 40).reshape(-1, 1)
    y = (X[:, 0] > 0.5).astype(int)
    clf = TabICLClassifier(random_state=0).fit(X, y)
    assert clf.predict(X[:1]).shape == (1,)


def test_wider_than_model_uses_feature_subsets():
    X, y = make_classification(n_samples=80, n_features=60, random_state=0)
    clf = TabICLClassifier(n_estimators=2, random_state=0).fit(X, y)
    max_features = clf.model_.config.max_features
    assert all(len(m.features) == min(60, max_features) for m in clf.members_)
    assert clf.predict_proba(X).shape == (80, 2)


def test_predict_batch_size_does_not_change_predictions(cancer):
    X, y = cancer
    a = TabICLClassifier(random_state=0, predict_batch_size=7, fine_tune_steps=0)
    b = TabICLClassifier(random_state=0, predict_batch_size=1000, fine_tune_steps=0)
    a, b = (clf.fit(X, y).predict_proba(X) for clf in (a, b))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_random_state_makes_predictions_reproducible(cancer):
    X, y = cancer
    a = TabICLClassifier(random_state=3).fit(X, y).predict_proba(X)
    b = TabICLClassifier(random_state=3).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (np.array([[1.0, np.inf], [2.0, 3.0]]), [0, 1], "infinity"),
        (np.ones((4, 2)), [0, 1, np.nan, 1], "y contains NaN"),
        (np.ones((4, 2)), [1, 1, 1, 1], "only one class"),
        (np.ones((0, 2)), [], "0 sample"),
        (np.ones((3, 0)), [0, 1, 0], "0 feature"),
        (np.ones((4, 2)), [0, 1, 0], "inconsistent numbers of samples"),
    ],
)
def test_bad_input_raises_a_clear_error(X, y, message):
    with pytest.raises(ValueError, match=message):
        TabICLClassifier().fit(X, y)


def test_predict_time_feature_checks(cancer):
    X, y = cancer
    clf = TabICLClassifier(random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X.iloc[:, :5].to_numpy())
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(X.rename(columns={X.columns[0]: "renamed"}))


def test_bad_parameters_raise():
    X, y = make_classification(n_samples=20, random_state=0)
    with pytest.raises(ValueError, match="n_estimators"):
        TabICLClassifier(n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="device"):
        TabICLClassifier(device="tpu").fit(X, y)
    with pytest.raises(ValueError, match="regression model"):
        from tabicl.checkpoint import bundled_checkpoint

        TabICLClassifier(model_path=bundled_checkpoint("regression")).fit(X, y)


def test_works_with_sklearn_tools(cancer):
    X, y = cancer
    # Fine-tuning changes no interface: only the pickled estimator below is fine-tuned.
    untuned = TabICLClassifier(n_estimators=1, fine_tune_steps=0, random_state=0)
    pipeline = make_pipeline(StandardScaler(), untuned)
    assert cross_val_score(pipeline, X, y, cv=2, scoring="roc_auc").mean() > 0.5
    search = GridSearchCV(clone(untuned), {"n_estimators": [1, 2]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["n_estimators"] in (1, 2)
    fitted = TabICLClassifier(random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert clone(fitted).get_params() == fitted.get_params()


def test_regressor_distribution_mean_and_quantiles():
    X, y = load_diabetes(return_X_y=True)
    reg = TabICLRegressor(random_state=0).fit(X[::2], y[::2])
    quantiles = reg.predict_quantiles(X[1::2], [0.1, 0.5, 0.9])
    assert quantiles.shape == (221, 3)
    assert np.all(np.diff(quantiles, axis=1) >= 0)
    assert np.all((quantiles >= y[::2].min()) & (quantiles <= y[::2].max()))
    distribution = reg.predict_distribution(X[1::2])
    np.testing.assert_allclose(distribution.sum(axis=1), 1, atol=1e-6)
    mean = reg.predict(X[1::2])
    assert mean.shape == (221,) and np.all(np.isfinite(mean))
    with pytest.raises(ValueError, match="quantiles"):
        reg.predict_quantiles(X[:2], [0.0, 1.5])


def test_cells_that_are_neither_text_nor_numbers_are_rejected():
    X = np.random.default_rng(0).random((6, 2)).astype(object)
    X[2, 1] = {"foo": "bar"}
    with pytest.raises(TypeError, match="column 1 holds a value of type dict"):
        TabICLClassifier().fit(X, [0, 1] * 3)


def test_regressor_rejects_non_numeric_target():
    with pytest.raises(ValueError, match="numeric"):
        TabICLRegressor().fit(np.ones((3, 2)), ["a", "b", "c"])


def test_subset_members_cover_every_column_of_a_wide_table():
    X, y = make_classification(n_samples=40, n_features=70, random_state=0)
    clf = TabICLClassifier(n_estimators=3, feature_reduction="subsets", random_state=0)
    seen = np.concatenate([member.features for member in clf.fit(X, y).members_])
    assert set(seen) == set(range(70))


def test_principal_components_read_every_column_of_a_wide_table():
    X, y = make_classification(n_samples=40, n_features=70, random_state=0)
    X[::4, 3] = np.nan
    clf = TabICLClassifier(n_estimators=2, random_state=0).fit(X, y)  # numeric: "auto" is PCA
    assert clf.encoder_.transform(X).shape == (40, clf.model_.config.max_features)
    moved = X.copy()
    moved[:, 69] += 3 * X[:, 69].std()  # the last column, which no window of 30 starts with
    assert not np.allclose(clf.predict_proba(moved), clf.predict_proba(X))


def test_wide_tables_with_categories_are_read_through_column_windows():
    X, y = make_classification(n_samples=40, n_features=40, random_state=0)
    frame = pd.DataFrame(X).add_prefix("x").assign(colour=pd.Categorical(["red", "blue"] * 20))
    clf = TabICLClassifier(n_estimators=2, random_state=0).fit(frame, y)
    assert clf.encoder_.transform(frame).shape == (40, 41)
    assert all(len(member.features) == clf.model_.config.max_features for member in clf.members_)


def test_bad_feature_reduction_raises():
    with pytest.raises(ValueError, match="feature_reduction must be one of"):
        TabICLClassifier(feature_reduction="svd").fit(np.ones((4, 2)), [0, 1, 0, 1])
