"""``python -m tabicl`` (or ``tabicl-demo``): the bundled models on scikit-learn's own data.

Fits the bundled classifier and regressor, with default settings, on datasets that
ship with scikit-learn and prints their held-out scores next to a standard
scikit-learn baseline. Nothing is downloaded and nothing is trained.

``python -m tabicl export-onnx --out model.onnx [--task classification|regression]
[--model-path DIR]`` writes a network as ONNX for ``backend="onnx"``: ``model.onnx``
(the query graph, what ``model_path`` names) and ``model.context.onnx`` beside it.
"""

from __future__ import annotations

import argparse
import time

from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.onnx import context_graph_path


def _classification(name: str, loader) -> None:
    X, y = loader(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=0
    )
    for label, model in (
        ("TabICLClassifier", TabICLClassifier(random_state=0)),
        ("LogisticRegression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
    ):
        started = time.perf_counter()
        proba = model.fit(X_train, y_train).predict_proba(X_test)
        seconds = time.perf_counter() - started
        auc = roc_auc_score(y_test, proba if proba.shape[1] > 2 else proba[:, 1], multi_class="ovr")
        accuracy = accuracy_score(y_test, model.classes_[proba.argmax(axis=1)])
        print(
            f"{name:14s} {label:20s} ROC-AUC {auc:.4f}  accuracy {accuracy:.4f}  {seconds:5.2f} s"
        )


def _regression() -> None:
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    for label, model in (
        ("TabICLRegressor", TabICLRegressor(random_state=0)),
        ("RidgeCV", make_pipeline(StandardScaler(), RidgeCV())),
    ):
        started = time.perf_counter()
        prediction = model.fit(X_train, y_train).predict(X_test)
        seconds = time.perf_counter() - started
        print(
            f"{'diabetes':14s} {label:20s} R2 {r2_score(y_test, prediction):.4f}  {seconds:5.2f} s"
        )


def _export_onnx(args: argparse.Namespace) -> None:
    estimator = TabICLClassifier if args.task == "classification" else TabICLRegressor
    path = estimator(model_path=args.model_path).export_onnx(args.out)
    print(f"wrote {path} and {context_graph_path(path)}")


def main(argv: list[str] | None = None) -> None:
    """Print held-out scores of the bundled models and of scikit-learn baselines, or
    export a network as ONNX (``export-onnx``)."""
    parser = argparse.ArgumentParser(prog="python -m tabicl", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    export = commands.add_parser("export-onnx", help="write a network as ONNX")
    export.add_argument(
        "--out", required=True, help="the query graph's .onnx file; x.context.onnx goes beside it"
    )
    export.add_argument(
        "--task", choices=["classification", "regression"], default="classification"
    )
    export.add_argument(
        "--model-path", default=None, help="checkpoint directory (default: bundled)"
    )
    args = parser.parse_args(argv)
    if args.command == "export-onnx":
        _export_onnx(args)
        return
    _classification("breast_cancer", load_breast_cancer)
    _classification("wine", load_wine)
    _regression()


if __name__ == "__main__":
    main()
