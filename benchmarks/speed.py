"""Speed and memory of the tabular estimators on a CPU, against CatBoost.

``python -m benchmarks.speed`` runs four measurements on synthetic classification
tables (``make_classification``, 20 features, seed 0) and writes them to
``benchmarks/results/speed/<measurement>.json``:

- ``profile``: where ``predict_proba`` spends its time (2,500 training + 2,500 test
  rows, default settings), torch operators by self CPU time;
- ``cache``: the network alone, one context of 2,500 rows and 2,500 queries in chunks
  of 1,024: context encoded again for every chunk (the forward pass) against encoded
  once and read by every chunk (what ``fit`` now stores);
- ``versus_catboost``: fit + predict on 5,000 x 20 (half train, half test) for ours
  with ``n_estimators`` 1 and the default 4, and CatBoost at its defaults; rows/s is
  test rows per second of predict, and (train + test) rows per second of fit + predict;
- ``memory``: peak resident memory of predicting 100,000 rows with a 10,000-row
  context (``max_context_rows=10_000``, one member);
- ``onnx``: torch eager against onnxruntime (fp32, and int8 by
  ``onnxruntime.quantization.quantize_dynamic``), both with the context encoded once.
  ``network``: the classifier's network on (context rows, query rows) x 20-feature
  tables, the context encoded once and the queries read in chunks of 1,024 rows: CPU
  seconds of each, query rows/s, largest probability difference. ``estimator``:
  ``TabICLClassifier`` at its defaults fitted once, then ``predict_proba`` on many rows.
  ``session_options``: the fp32 query graph under each graph optimisation level;
- ``onnx_accuracy``: ROC-AUC of the classifier with ``backend="torch"``, ``"onnx"`` and
  ``"onnx"`` on the int8 files, on 5 small CC18 sets (2 stratified folds, seed 0).

Every time is the best of ``--repeats`` runs. ``--threads`` caps the threads of torch,
CatBoost and onnxruntime alike. The ``onnx`` measurement counts CPU seconds of this
process (``time.process_time``), which other processes on a busy machine barely
change; run it with ``--threads 1`` to compare the backends' work. The ONNX
measurements export the bundled classifier to ``--onnx-dir`` unless a
``classifier.onnx`` is already there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy.special import softmax
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score

from tabicl import TabICLClassifier

OUT = Path(__file__).resolve().parent / "results" / "speed"
ONNX_DATASETS = ("balance-scale", "breast-w", "credit-approval", "credit-g", "diabetes")


def table(n_rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return make_classification(n_samples=n_rows, n_features=20, n_informative=10, random_state=seed)


def best_seconds(run, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        started = clock()
        run()
        times.append(clock() - started)
    return min(times)


def profile(args) -> dict:
    X, y = table(5000)
    clf = TabICLClassifier(random_state=0).fit(X[:2500], y[:2500])
    clf.predict_proba(X[2500:])  # warm-up
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        clf.predict_proba(X[2500:])
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return {
        "total_cpu_seconds": total / 1e6,
        "top_operators": [
            {"name": e.key, "calls": e.count, "share": round(e.self_cpu_time_total / total, 4)}
            for e in events[:10]
        ],
    }


@torch.no_grad()
def cache(args) -> dict:
    X, y = table(5000)
    clf = TabICLClassifier(n_estimators=1, random_state=0).fit(X[:2500], y[:2500])
    model = clf.model_.model  # the TabularICL behind the torch backend
    normalizer = clf.normalizers_["quantile"]
    context = torch.as_tensor(normalizer.transform(X[:2500]), dtype=torch.float32)[None]
    queries = torch.as_tensor(normalizer.transform(X[2500:]), dtype=torch.float32)[None]
    labels = torch.as_tensor(y[:2500], dtype=torch.float32)[None]
    chunks = queries.split(1024, dim=1)

    def uncached():
        return [model(torch.cat([context, chunk], dim=1), labels) for chunk in chunks]

    def cached():
        encoded = model.encode_context(context, labels)
        return [model.predict_queries(encoded, chunk) for chunk in chunks]

    encoded = model.encode_context(context, labels)
    difference = max(
        (a - b).abs().max().item()
        for a, b in zip(
            uncached(), [model.predict_queries(encoded, c) for c in chunks], strict=True
        )
    )
    seconds = {
        "context_per_chunk": best_seconds(uncached, args.repeats),
        "context_once_then_chunks": best_seconds(cached, args.repeats),
        "chunks_reading_a_stored_context": best_seconds(
            lambda: [model.predict_queries(encoded, chunk) for chunk in chunks], args.repeats
        ),
    }
    return {
        "seconds": seconds,
        "speed_up_predict_after_fit": seconds["context_per_chunk"]
        / seconds["chunks_reading_a_stored_context"],
        "max_abs_logit_difference": difference,
    }


def versus_catboost(args) -> dict:
    from catboost import CatBoostClassifier

    X, y = table(5000)
    train, test = slice(0, 2500), slice(2500, None)
    models = {
        "ours_n_estimators_1": lambda: TabICLClassifier(n_estimators=1, random_state=0),
        "ours_default": lambda: TabICLClassifier(random_state=0),
        "ours_without_fine_tuning": lambda: TabICLClassifier(fine_tune_steps=0, random_state=0),
        "catboost_default": lambda: CatBoostClassifier(
            thread_count=args.threads, random_seed=0, verbose=False, allow_writing_files=False
        ),
    }
    results = {}
    for name, make in models.items():
        fit_times, predict_times = [], []
        for _ in range(args.repeats):
            model = make()
            started = time.perf_counter()
            model.fit(X[train], y[train])
            fitted = time.perf_counter()
            proba = model.predict_proba(X[test])
            fit_times.append(fitted - started)
            predict_times.append(time.perf_counter() - fitted)
        fit_seconds, predict_seconds = min(fit_times), min(predict_times)
        results[name] = {
            "fit_seconds": fit_seconds,
            "predict_seconds": predict_seconds,
            "fit_plus_predict_seconds": fit_seconds + predict_seconds,
            "predict_rows_per_second": 2500 / predict_seconds,
            "fit_plus_predict_rows_per_second": 5000 / (fit_seconds + predict_seconds),
            "roc_auc": roc_auc_score(y[test], proba[:, 1]),
        }
    return results


def memory(args) -> dict:
    X, y = table(10_000)
    queries, _ = table(100_000, seed=1)
    clf = TabICLClassifier(n_estimators=1, max_context_rows=10_000, random_state=0).fit(X, y)
    started = time.perf_counter()
    clf.predict_proba(queries)
    return {
        "predict_seconds": time.perf_counter() - started,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def onnx_files(args) -> dict[str, Path]:
    """The bundled classifier's graphs, fp32 and dynamically quantised to int8."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
    from tabicl.onnx import context_graph_path, weights_fingerprint

    # One folder per bundled weights: graphs exported from older weights are never reused.
    folder = args.onnx_dir / weights_fingerprint(
        load_checkpoint(bundled_checkpoint("classification"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = {"fp32": folder / "classifier.onnx", "int8": folder / "classifier-int8.onnx"}
    if not files["fp32"].exists():
        TabICLClassifier().export_onnx(files["fp32"])
    if not files["int8"].exists():
        for graph in (context_graph_path, Path):  # the context graph, then the query graph
            # Only the linear layers: ONNX's Attention has no int8 form onnxruntime accepts.
            quantize_dynamic(
                graph(files["fp32"]),
                graph(files["int8"]),
                op_types_to_quantize=["MatMul", "Gemm"],
                weight_type=QuantType.QInt8,
            )
    return files


def onnx_networks(args) -> dict:
    """The torch network and the ONNX files' networks, by variant name."""
    from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
    from tabicl.model import TorchNetwork
    from tabicl.onnx import OnnxNetwork

    model = load_checkpoint(bundled_checkpoint("classification"))
    networks = {"torch": TorchNetwork(model, torch.device("cpu"))}
    for name, path in onnx_files(args).items():
        networks[f"onnx_{name}"] = OnnxNetwork(path, threads=args.threads)
    return networks


def chunked_logits(network, context, chunks: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([network.predict_logits(context, chunk) for chunk in chunks])


def network_speed(networks: dict, args) -> list[dict]:
    """Each network's context encoding and chunked queries on several table sizes."""
    cpu_seconds = partial(best_seconds, repeats=args.repeats, clock=time.process_time)
    rows = []
    for n_context, n_query in ((100, 100), (1000, 1000), (2048, 1024), (2048, 10_000)):
        X, y = table(n_context + n_query)
        x_context, x_query = X[:n_context].astype(np.float32), X[n_context:].astype(np.float32)
        y_context = y[:n_context].astype(np.float32)
        chunks = np.array_split(x_query, range(1024, n_query, 1024))
        row = {"context_rows": n_context, "query_rows": n_query, "features": 20}
        for name, network in networks.items():
            predict = partial(
                chunked_logits, network, network.encode_context(x_context, y_context), chunks
            )
            probabilities = softmax(predict(), axis=1)
            if name == "torch":
                expected = probabilities
            row[f"{name}_context_seconds"] = cpu_seconds(
                partial(network.encode_context, x_context, y_context)
            )
            row[f"{name}_query_seconds"] = cpu_seconds(predict)
            row[f"{name}_query_rows_per_second"] = n_query / row[f"{name}_query_seconds"]
            row[f"{name}_max_abs_probability_difference"] = float(
                np.abs(probabilities - expected).max()
            )
            for part in ("context", "query"):
                row[f"{name}_{part}_speed_up"] = (
                    row[f"torch_{part}_seconds"] / row[f"{name}_{part}_seconds"]
                )
        rows.append(row)
        print(row, flush=True)
    return rows


def estimator_speed(networks: dict, args) -> list[dict]:
    """``predict_proba`` of a fitted ``TabICLClassifier`` (defaults) for each backend."""
    files = onnx_files(args)
    rows = []
    for n_train, n_test in ((100, 1000), (1000, 5000), (2500, 5000)):
        X, y = table(n_train + n_test)
        row = {"train_rows": n_train, "test_rows": n_test, "features": 20}
        for name, network in networks.items():
            onnx_file = files.get(name.removeprefix("onnx_"))
            backend = "torch" if onnx_file is None else "onnx"
            clf = TabICLClassifier(backend=backend, model_path=onnx_file, random_state=0)
            clf.fit(X[:n_train], y[:n_train])
            clf.model_ = network  # fit's session uses every core; this one --threads
            probabilities = clf.predict_proba(X[n_train:])
            if name == "torch":
                expected = probabilities
            row[f"{name}_predict_seconds"] = best_seconds(
                partial(clf.predict_proba, X[n_train:]), args.repeats, time.process_time
            )
            row[f"{name}_predict_rows_per_second"] = n_test / row[f"{name}_predict_seconds"]
            row[f"{name}_speed_up"] = row["torch_predict_seconds"] / row[f"{name}_predict_seconds"]
            row[f"{name}_max_abs_probability_difference"] = float(
                np.abs(probabilities - expected).max()
            )
        rows.append(row)
        print(row, flush=True)
    return rows


def session_options(args) -> dict:
    """CPU seconds of the fp32 query graph (2,048 context rows, 1,024 queries) by
    onnxruntime graph optimisation level; the backend uses "all"."""
    import onnxruntime as ort

    from tabicl.onnx import OnnxNetwork

    network = OnnxNetwork(onnx_files(args)["fp32"], threads=args.threads)
    X, y = table(2048 + 1024)
    context = network.encode_context(X[:2048], y[:2048])
    inputs = {**context, "x_query": X[None, 2048:].astype(np.float32)}
    levels = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    seconds = {}
    for name, level in levels.items():
        options = ort.SessionOptions()
        options.graph_optimization_level = level
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(network.graphs["query"], options)
        seconds[name] = best_seconds(
            partial(session.run, ["logits"], inputs), args.repeats, time.process_time
        )
    return seconds


@torch.no_grad()
def onnx(args) -> dict:
    networks = onnx_networks(args)
    return {
        "clock": "time.process_time",
        "network": network_speed(networks, args),
        "estimator": estimator_speed(networks, args),
        "session_options": session_options(args),
    }


def onnx_accuracy(args) -> dict:
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import LabelEncoder

    from benchmarks.datasets import DEFAULT_DATA_DIR, find_parquet, load_parquet

    files = onnx_files(args)
    # The onnx backend runs no gradient steps, so torch without fine-tuning is its twin.
    variants = {"torch": ("torch", None, "auto"), "torch_no_fine_tuning": ("torch", None, 0),
                "onnx_fp32": ("onnx", files["fp32"], "auto"),
                "onnx_int8": ("onnx", files["int8"], "auto")}  # fmt: skip
    scores = {}
    for name in ONNX_DATASETS:
        X, y = load_parquet(find_parquet(DEFAULT_DATA_DIR, "cc18", name))
        y = LabelEncoder().fit_transform(y)
        folds = StratifiedKFold(2, shuffle=True, random_state=0).split(X, y)
        per_variant = {variant: [] for variant in variants}
        for train, test in folds:
            for variant, (backend, path, fine_tune_steps) in variants.items():
                clf = TabICLClassifier(
                    backend=backend,
                    model_path=path,
                    fine_tune_steps=fine_tune_steps,
                    random_state=0,
                )
                proba = clf.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])
                multi = proba.shape[1] > 2
                per_variant[variant].append(
                    roc_auc_score(y[test], proba if multi else proba[:, 1], multi_class="ovr")
                )
        scores[name] = {variant: float(np.mean(s)) for variant, s in per_variant.items()}
    scores["mean"] = {v: float(np.mean([scores[d][v] for d in ONNX_DATASETS])) for v in variants}
    return {"roc_auc": scores}


MEASUREMENTS = {
    "profile": profile,
    "cache": cache,
    "versus_catboost": versus_catboost,
    "memory": memory,
    "onnx": onnx,
    "onnx_accuracy": onnx_accuracy,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "measurements", nargs="*", choices=list(MEASUREMENTS), default=list(MEASUREMENTS)
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--onnx-dir", type=Path, default=Path("runs/onnx"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.measurements:
        result = {
            "threads": args.threads,
            "load_average_before": os.getloadavg(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "torch": torch.__version__,
            **MEASUREMENTS[name](args),
        }
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(name, json.dumps(result, indent=2), flush=True)


if __name__ == "__main__":
    main()
