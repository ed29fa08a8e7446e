"""Fit-once contexts, bounded memory, and tables larger than the context budget."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.metrics import adjusted_rand_score

from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
from tabicl.estimators import NEIGHBOURHOOD_ROWS
from tabicl.model import DISTANCE_GAIN, label_groups, squared_distances
from tabicl.retrieval import Neighbourhoods


def every_row_through_every_block(model, x, y_context):
    """The forward pass without a cache: context and query rows in one sequence."""
    N = y_context.shape[1]
    cells, columns = model.cells.context(x[:, :N], label_groups(y_context, model.config))
    rows = model.rows(torch.cat([cells, model.cells.queries(x[:, N:], columns)], dim=1))
    h = torch.cat([rows[:, :N] + model.icl.label(y_context), rows[:, N:]], dim=1)
    distances = squared_distances(x, x[:, :N], columns.relevance)  # (B, R, N)
    for layer, block in enumerate(model.icl.blocks):
        bias = None
        if model.config.distance_attention:
            rates = DISTANCE_GAIN * model.icl.distance_scale[layer]
            bias = -rates[:, None, None] * distances[:, None]  # (B, H, R, N)
        h = block.read(h, *block.attn.keys_values(block.norm_attn(h[:, :N])), bias=bias)
    return model.icl.head(model.icl.norm(h[:, N:]))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_cached_context_equals_every_row_through_every_block(task):
    model = load_checkpoint(bundled_checkpoint(task))
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 130, 7, generator=generator)
    x[0, ::5, 2] = float("nan")
    if task == "classification":
        y = torch.randint(0, 3, (2, 90), generator=generator).float()
    else:
        y = torch.rand(2, 90, generator=generator)
    with torch.no_grad():
        expected = every_row_through_every_block(model, x, y)
        context = model.encode_context(x[:, :90], y)
        chunks = [model.predict_queries(context, x[:, 90 + i : 100 + i]) for i in range(0, 40, 10)]
    torch.testing.assert_close(torch.cat(chunks, dim=1), expected, atol=1e-5, rtol=0)


def test_predict_reads_the_contexts_encoded_at_fit(monkeypatch):
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    clf = TabICLClassifier(n_estimators=2, random_state=0).fit(X[:80], y[:80])
    first = clf.predict_proba(X[80:])

    def fail(*args, **kwargs):
        raise AssertionError("predict re-encoded the context")

    monkeypatch.setattr(clf.model_, "encode_context", fail)
    np.testing.assert_array_equal(clf.predict_proba(X[80:]), first)


@pytest.mark.parametrize("selection", ["neighbors", "subsample"])
def test_training_sets_beyond_the_context_budget(selection):
    X, y = make_classification(
        n_samples=400, n_features=5, n_classes=3, n_informative=3, random_state=0
    )
    clf = TabICLClassifier(
        n_estimators=2, max_context_rows=64, context_selection=selection, random_state=0
    ).fit(X[:300], y[:300])
    sizes = [tasks[0].context.keys_values.shape[-2] for c in clf.contexts_ for tasks in c]
    if selection == "neighbors":  # (L, 2, B, H, N, D/H)
        assert len(clf.contexts_[0]) == 5  # ceil(300 / 64) neighbourhoods
        assert min(sizes) >= 64
    else:
        assert set(sizes) == {64}
    proba = clf.predict_proba(X[300:])
    assert proba.shape == (100, 3) and np.allclose(proba.sum(axis=1), 1)
    assert clf.score(X[300:], y[300:]) > 0.5


def test_every_training_row_is_in_the_neighbourhood_its_queries_read():
    rng = np.random.default_rng(0)
    X = np.r_[rng.standard_normal((295, 3)), 8 + rng.standard_normal((5, 3))]  # 5 outliers
    y = np.r_[np.zeros(295, dtype=int), np.ones(5, dtype=int)]
    clf = TabICLClassifier(n_estimators=2, max_context_rows=64, random_state=0).fit(X, y)
    for neighbourhoods in clf.neighbourhoods_:
        read = neighbourhoods.assign(clf.normalizers_["quantile"].transform(X))
        for row, neighbourhood in enumerate(read):
            assert row in neighbourhoods.rows_[neighbourhood]
    assert clf.predict_proba(8 + rng.standard_normal((3, 3)))[:, 1].min() > 0.5


def test_members_cluster_the_training_rows_each_their_own_way():
    X, y = make_classification(n_samples=600, n_features=4, random_state=0)
    clf = TabICLClassifier(n_estimators=3, max_context_rows=100, random_state=0).fit(X, y)
    assert len(clf.neighbourhoods_) == 3
    first, second = (
        n.assign(clf.normalizers_["quantile"].transform(X)) for n in clf.neighbourhoods_[:2]
    )
    assert adjusted_rand_score(first, second) < 1.0


def test_oversized_clusters_are_drawn_down_to_max_rows():
    X = np.r_[np.zeros((500, 2)), np.random.default_rng(0).standard_normal((100, 2))]
    neighbourhoods = Neighbourhoods(rows=100, max_rows=200, random_state=0).fit(X)
    assert max(len(rows) for rows in neighbourhoods.rows_) <= 200 + 100
    assert len(np.unique(np.concatenate(neighbourhoods.rows_))) >= 300


def test_regression_beyond_the_context_budget():
    X, y = make_regression(n_samples=300, n_features=4, noise=1, random_state=0)
    reg = TabICLRegressor(n_estimators=1, max_context_rows=50, random_state=0)
    assert reg.fit(X[:200], y[:200]).score(X[200:], y[200:]) > 0.3


def test_stratified_subsample_keeps_every_class():
    y = np.r_[np.zeros(950, dtype=int), np.ones(50, dtype=int)]
    X = np.random.default_rng(0).standard_normal((1000, 3)) + y[:, None]
    clf = TabICLClassifier(
        n_estimators=1, max_context_rows=100, context_selection="subsample", random_state=0
    ).fit(X, y)
    assert clf.predict_proba(X[:5]).shape == (5, 2)


def test_hundred_classes():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(100), 6)
    centres = rng.standard_normal((100, 8)) * 3
    X = centres[y] + rng.standard_normal((600, 8))
    clf = TabICLClassifier(n_estimators=2, random_state=0).fit(X[::2], y[::2])
    proba = clf.predict_proba(X[1::2])
    assert proba.shape == (300, 100) and np.allclose(proba.sum(axis=1), 1)
    assert clf.score(X[1::2], y[1::2]) > 0.1  # chance is 0.01


def test_bad_context_selection_raises():
    with pytest.raises(ValueError, match="context_selection"):
        TabICLClassifier(context_selection="all").fit(np.ones((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="max_context_rows"):
        TabICLClassifier(max_context_rows=0).fit(np.ones((4, 2)), [0, 1, 0, 1])


PEAK_MEMORY = """
import resource, sys
import numpy as np
from tabicl import TabICLClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((200, 4))
clf = TabICLClassifier(n_estimators=1, predict_batch_size=200, random_state=0)
clf.fit(X, X[:, 0] > 0)
clf.predict_proba(rng.standard_normal((400, 4)))  # warm-up: allocator, thread pools
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
clf.predict_proba(rng.standard_normal((int(sys.argv[1]), 4)))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_peak_memory_does_not_grow_with_query_rows():
    # 20,000 queries in one pass would take ~64 MB of attention weights per layer.
    grown = subprocess.run(
        [sys.executable, "-c", PEAK_MEMORY, "20000"], capture_output=True, text=True, check=True
    )
    assert int(grown.stdout) < 30_000  # KiB: the inputs and outputs themselves are ~2 MB


def test_auto_context_rows_keep_small_tables_whole_and_split_large_ones():
    X, y = make_classification(n_samples=2100, n_features=4, random_state=0)
    one_untuned_member = {"n_estimators": 1, "fine_tune_steps": 0, "random_state": 0}
    small = TabICLClassifier(**one_untuned_member).fit(X[:2000], y[:2000])
    assert small.neighbourhoods_ is None
    large = TabICLClassifier(**one_untuned_member).fit(X, y)
    assert len(large.neighbourhoods_[0].rows_) == -(-2100 // NEIGHBOURHOOD_ROWS)
    small = TabICLRegressor(**one_untuned_member).fit(X[:2000], X[:2000, 0])
    assert small.neighbourhoods_ is None
    large = TabICLRegressor(**one_untuned_member).fit(X, X[:, 0])
    assert len(large.neighbourhoods_[0].rows_) == -(-2100 // NEIGHBOURHOOD_ROWS)
