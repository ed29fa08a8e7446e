"""ONNX export: the same outputs as torch across shapes, a context encoded once at fit,
pickling, clear errors for mismatched files, and no torch at all."""

import pickle
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from without_torch import run_without_torch  # noqa: E402

from tabicl import TabICLClassifier, TabICLRegressor  # noqa: E402
from tabicl.__main__ import main as tabicl_main  # noqa: E402
from tabicl.checkpoint import bundled_checkpoint, load_checkpoint  # noqa: E402
from tabicl.onnx import OnnxNetwork, context_graph_path  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export per task for the whole module (the regressor's by the command line):
    exporting takes tens of seconds."""
    folder = tmp_path_factory.mktemp("onnx")
    tabicl_main(["export-onnx", "--out", str(folder / "regressor.onnx"), "--task", "regression"])
    assert context_graph_path(folder / "regressor.onnx").is_file()
    return {
        "classification": TabICLClassifier().export_onnx(folder / "classifier.onnx"),
        "regression": folder / "regressor.onnx",
    }


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize(
    ("n_context", "n_query", "n_features", "n_classes"),
    [(1, 1, 1, 2), (37, 5, 3, 10), (2000, 300, 30, 4), (400, 1, 17, 7), (2000, 1000, 1, 2)],
)
def test_network_parity(exported, task, n_context, n_query, n_features, n_classes):
    rng = np.random.default_rng(n_context)
    x_context = rng.standard_normal((n_context, n_features))
    x_context[::3, 0] = np.nan
    x_query = rng.standard_normal((n_query, n_features))
    if task == "classification":
        y_context = rng.integers(0, n_classes, n_context).astype(float)
    else:
        y_context = rng.random(n_context)
    torch_network = load_checkpoint(bundled_checkpoint(task))
    with torch.no_grad():
        expected = torch_network.predict_queries(
            torch_network.encode_context(
                torch.tensor(x_context, dtype=torch.float32)[None],
                torch.tensor(y_context, dtype=torch.float32)[None],
            ),
            torch.tensor(x_query, dtype=torch.float32)[None],
        )[0]
    network = OnnxNetwork(exported[task])
    context = network.encode_context(x_context, y_context)
    config = network.config
    assert context["keys_0"].shape == (
        1,
        config.n_heads,
        n_context,
        config.d_model // config.n_heads,
    )
    logits = network.predict_logits(context, x_query)
    expected, logits = (torch.softmax(torch.as_tensor(t), -1) for t in (expected, logits))
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize(
    ("n_features", "n_classes", "feature_reduction"),
    [(100, 7, "subsets"), (100, 3, "pca"), (12, 2, "pca"), (3, 10, "pca"), (1, 2, "pca"),
     (40, 13, "subsets")],
)  # fmt: skip
def test_estimator_parity(exported, n_features, n_classes, feature_reduction):
    rng = np.random.default_rng(n_features)
    X = rng.standard_normal((240, n_features))
    y = (X[:, 0] * 3 + X[:, -1]).round().astype(int) % n_classes
    y[:n_classes] = np.arange(n_classes)
    fitted = {
        backend: TabICLClassifier(
            n_estimators=2,
            backend=backend,
            model_path=exported["classification"] if backend == "onnx" else None,
            feature_reduction=feature_reduction,
            fine_tune_steps=0,  # the same network on both sides
            random_state=0,
        ).fit(X[:200], y[:200])
        for backend in ("torch", "onnx")
    }
    expected = fitted["torch"].predict_proba(X[200:])
    np.testing.assert_allclose(fitted["onnx"].predict_proba(X[200:]), expected, atol=1e-4)
    restored = pickle.loads(pickle.dumps(fitted["onnx"]))
    np.testing.assert_allclose(restored.predict_proba(X[200:]), expected, atol=1e-4)


def test_regressor_parity(exported):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 40))
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.standard_normal(150)
    predictions = [
        TabICLRegressor(backend=backend, model_path=path, fine_tune_steps=0, random_state=0)
        .fit(X[:100], y[:100])
        .predict_distribution(X[100:])
        for backend, path in (("torch", None), ("onnx", exported["regression"]))
    ]
    np.testing.assert_allclose(*predictions, atol=1e-4)


def test_predict_runs_only_the_query_graph(exported):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 6))
    y = X[:, 0] > 0
    clf = TabICLClassifier(n_estimators=2, backend="onnx", model_path=exported["classification"])
    expected = clf.fit(X[:100], y[:100]).predict_proba(X[100:])
    del clf.model_.sessions["context"]  # what fit encoded is all that predict reads
    np.testing.assert_array_equal(clf.predict_proba(X[100:]), expected)


def test_onnx_backend_needs_both_graphs_of_one_export(exported, tmp_path):
    X, y = np.ones((4, 2)), [0, 1, 0, 1]
    with pytest.raises(ValueError, match="model_path"):
        TabICLClassifier(backend="onnx").fit(X, y)
    with pytest.raises(FileNotFoundError, match="export-onnx"):
        TabICLClassifier(backend="onnx", model_path=tmp_path / "missing.onnx").fit(X, y)
    lonely = shutil.copy(exported["classification"], tmp_path / "lonely.onnx")
    with pytest.raises(FileNotFoundError, match=r"lonely\.context\.onnx \(context graph\)"):
        OnnxNetwork(lonely)
    mixed = shutil.copy(exported["classification"], tmp_path / "mixed.onnx")
    shutil.copy(context_graph_path(exported["regression"]), context_graph_path(mixed))
    with pytest.raises(ValueError, match="different networks"):
        OnnxNetwork(mixed)
    swapped = tmp_path / "swapped.onnx"
    shutil.copy(context_graph_path(exported["classification"]), swapped)
    shutil.copy(exported["classification"], context_graph_path(swapped))
    with pytest.raises(ValueError, match="is the context graph"):
        OnnxNetwork(swapped)


WITHOUT_TORCH = """
import numpy as np
from tabicl import TabICLClassifier
X = np.random.default_rng(0).standard_normal((80, 5))
clf = TabICLClassifier(backend="onnx", model_path=sys.argv[1], random_state=0)
proba = clf.fit(X[:60], X[:60, 0] > 0).predict_proba(X[60:])
print(proba.shape, clf.score(X[60:], X[60:, 0] > 0))
"""


def test_fit_and_predict_without_torch(exported):
    result = run_without_torch(WITHOUT_TORCH, str(exported["classification"]))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("(20, 2)")
