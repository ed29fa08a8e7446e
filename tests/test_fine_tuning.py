"""Fine-tuning at fit: it trains a copy, on episodes each member would read, and repeats."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes

import tabicl.model
from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
from tabicl.fine_tuning import Episode, fine_tune


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[::3], y[::3]


def weights_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    theirs = b.state_dict()
    return all(torch.equal(weights, theirs[name]) for name, weights in a.state_dict().items())


def test_fine_tuning_lowers_the_loss_of_its_episodes_and_leaves_the_model_alone(cancer):
    X, y = cancer
    x = (X - X.mean(0)) / X.std(0)
    episode = Episode(x[:, :10], y[:150].astype(float), y[150:].astype(float))
    model = load_checkpoint(bundled_checkpoint("classification"))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss(network):
        with torch.no_grad():
            x, y_context, y_query = (torch.as_tensor(a, dtype=torch.float32)[None] for a in episode)
            return network.loss(network(x, y_context), y_query).item()

    tuned = fine_tune(model, lambda rng: episode, steps=10, learning_rate=1e-3, seed=0)
    assert loss(tuned) < loss(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not tuned.training


def test_fit_tunes_a_copy_reproducibly(cancer):
    X, y = cancer
    bundled = load_checkpoint(bundled_checkpoint("classification"))
    a = TabICLClassifier(random_state=0, fine_tune_steps=3).fit(X, y)
    b = TabICLClassifier(random_state=0, fine_tune_steps=3).fit(X, y)
    assert not weights_equal(a.model_.model, bundled)
    assert weights_equal(a.model_.model, b.model_.model)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    untuned = TabICLClassifier(random_state=0, fine_tune_steps=0).fit(X, y)
    assert weights_equal(untuned.model_.model, bundled)


def test_auto_leaves_tables_under_64_rows_untuned():
    X, y = load_diabetes(return_X_y=True)
    reg = TabICLRegressor(random_state=0).fit(X[:50], y[:50])
    assert weights_equal(reg.model_.model, load_checkpoint(bundled_checkpoint("regression")))


@pytest.mark.parametrize("Estimator", [TabICLClassifier, TabICLRegressor])
def test_episodes_hold_out_queries_as_a_member_reads_them(monkeypatch, Estimator):
    X, y = load_diabetes(return_X_y=True)
    if Estimator is TabICLClassifier:
        y = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))  # 4 classes
    episodes = []

    def record(model, draw_episode, steps, learning_rate, seed):
        rng = np.random.default_rng(seed)
        episodes.extend(draw_episode(rng) for _ in range(steps))
        return model

    monkeypatch.setattr(tabicl.model, "fine_tune", record)
    estimator = Estimator(random_state=0, fine_tune_steps=20).fit(X[:300], y[:300])
    assert len(episodes) == 20
    for episode in episodes:
        n_context, n_query = len(episode.y_context), len(episode.y_query)
        assert n_context + n_query == len(episode.x) == 300
        assert n_query == 90  # 30% held out
        assert episode.x.shape[1] == len(estimator.members_[0].features)
        labels = np.concatenate([episode.y_context, episode.y_query])
        if Estimator is TabICLClassifier:
            assert set(labels) == {0, 1, 2, 3}
        else:
            assert labels.min() >= 0 and labels.max() <= 1
            assert episode.y_context.min() == 0 and episode.y_context.max() == 1
    # Members are drawn at random: episodes come from several views of the rows.
    assert len({episode.x[:, 0].sum() for episode in episodes}) > 1


@pytest.mark.parametrize("steps", [-1, 1.5, "many", True])
def test_bad_fine_tune_steps_raise(cancer, steps):
    X, y = cancer
    with pytest.raises(ValueError, match="fine_tune_steps"):
        TabICLClassifier(fine_tune_steps=steps).fit(X, y)


def test_onnx_backend_cannot_fine_tune(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="fine_tune_steps needs backend='torch'"):
        TabICLClassifier(backend="onnx", model_path="model.onnx", fine_tune_steps=5).fit(X, y)


def test_contexts_of_one_row_are_not_fine_tuned():
    X, y = load_diabetes(return_X_y=True)
    reg = TabICLRegressor(max_context_rows=1, random_state=0).fit(X[:100], y[:100])
    assert weights_equal(reg.model_.model, load_checkpoint(bundled_checkpoint("regression")))
    assert np.isfinite(reg.predict(X[100:110])).all()
