"""Priors, batches, and the pretraining CLI from fit to an exported checkpoint."""

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from pretraining.__main__ import cli_main
from pretraining.data import make_batch
from pretraining.priors import PriorConfig, mlp_scm, sample_table, trees
from tabicl import TabICLClassifier


@pytest.mark.parametrize("family", [mlp_scm, trees])
def test_families_shapes_and_seeds(family):
    x, y = family(np.random.default_rng(0), 50, 7)
    assert x.shape == (50, 7) and y.shape == (50,)
    x_again, y_again = family(np.random.default_rng(0), 50, 7)
    np.testing.assert_array_equal(x, x_again)
    np.testing.assert_array_equal(y, y_again)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_tables_are_seeded_and_well_formed(task):
    config = PriorConfig(p_missing=1.0, p_categorical=1.0)
    table = sample_table(3, 200, 9, task, config)
    again = sample_table(3, 200, 9, task, config)
    np.testing.assert_array_equal(table.x, again.x)
    assert table.x.shape == (200, 9) and np.isfinite(table.y).all()
    assert not np.isinf(table.x).any()
    if task == "classification":
        assert set(np.unique(table.y)) <= set(range(config.max_classes))


@pytest.mark.parametrize(
    ("task", "model", "chance"),
    [
        ("classification", RandomForestClassifier, None),
        ("regression", RandomForestRegressor, 0.0),
    ],
)
def test_tasks_are_learnable(task, model, chance):
    """A random forest beats chance on average over sampled tables."""
    scores, baselines = [], []
    for seed in range(12):
        table = sample_table(seed, 300, 6, task, PriorConfig())
        pipeline = make_pipeline(SimpleImputer(), model(n_estimators=30, random_state=0))
        scores.append(cross_val_score(pipeline, table.x, table.y, cv=3).mean())
        if chance is None:
            baselines.append(np.bincount(table.y.astype(int)).max() / len(table.y))
    assert np.mean(scores) > (np.mean(baselines) if chance is None else chance)


def test_batches_are_seeded_by_index():
    a = make_batch(5, 0, "regression", PriorConfig(), 16, 64, 5, 5000)
    b = make_batch(5, 0, "regression", PriorConfig(), 16, 64, 5, 5000)
    torch.testing.assert_close(a["x"], b["x"], equal_nan=True)
    assert a["x"].shape[:2] == a["y"].shape
    assert 0 <= a["y"].min() and a["y"].max() <= 1  # regression targets are ranks


def test_tiny_config_trains_and_exports_a_loadable_checkpoint(tmp_path):
    cli_main(
        [
            "fit",
            "--config",
            "pretraining/configs/tiny.yaml",
            "--trainer.default_root_dir",
            str(tmp_path),
            "--trainer.max_steps",
            "4",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    (checkpoint,) = tmp_path.glob("lightning_logs/version_0/checkpoints/*.ckpt")
    cli_main(["export", str(checkpoint), str(tmp_path / "exported")])
    card = (tmp_path / "exported" / "MODEL_CARD.md").read_text()
    assert "Optimiser steps: 4" in card
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = TabICLClassifier(model_path=tmp_path / "exported").fit(X, y)
    assert clf.predict_proba(X).shape == (40, 2)
