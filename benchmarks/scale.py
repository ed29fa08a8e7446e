"""Large, wide and many-class tables: our context selections next to the GBDTs.

``python -m benchmarks.scale`` scores, on one fold of the large CC18/CTR23 sets (more
rows than a context holds) and the wide and many-class ones, our estimators with each
``context_selection`` (large sets: neighbourhoods at the default size, or stratified
subsamples of 2,048 rows) or each ``feature_reduction`` (wide sets) and the GBDTs at
their defaults (``benchmarks/peers.py``).

Protocol: the first fold of a seeded 5-fold split (stratified for classes); the whole
training fold is used (up to ~43,000 rows), the test fold is cut to ``--max-test-rows``
by a seeded (stratified) subsample, the same for every model. Output in
``benchmarks/results/scale/``: ``results.csv`` (one row per dataset and model,
appended as each finishes; finished rows are skipped when run again) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.preprocessing import LabelEncoder
from threadpoolctl import threadpool_limits

from benchmarks.datasets import DEFAULT_DATA_DIR, find_parquet, load_parquet, model_ready
from benchmarks.openml import cap_rows, evaluate, fold_indices
from benchmarks.peers import GBDTS, make_model
from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.estimators import WHOLE_CONTEXT_ROWS

LARGE = {
    "cc18": ["adult", "bank-marketing", "electricity", "jungle_chess_2pcs_raw_endgame_complete",
             "letter"],
    "ctr23": ["diamonds", "physiochemical_protein", "california_housing"],
}  # fmt: skip
# Wider than the network's 30 columns: numeric, binary-coded, and categorical ones.
WIDE = {"cc18": ["cnae-9", "semeion", "dna", "spambase", "kr-vs-kp", "splice", "cylinder-bands"]}
# Our variants: the choice each group of datasets puts to the test.
VARIANTS = {"large": ("neighbors", "subsample"), "wide": ("pca", "subsets")}
COLUMNS = ["group", "dataset", "model", "n_train", "n_test", "n_features", "n_classes",
           "roc_auc", "accuracy", "balanced_accuracy", "log_loss", "r2", "rmse",
           "fit_seconds", "predict_seconds_per_1k", "error"]  # fmt: skip
OUT = Path(__file__).resolve().parent / "results" / "scale"


def make(name: str, task: str, categorical: list[str], threads: int, seed: int):
    """``ours-<context selection>``, ``ours-<feature reduction>`` or a GBDT name."""
    if name.startswith("ours-"):
        estimator = TabICLClassifier if task == "classification" else TabICLRegressor
        variant = name.removeprefix("ours-")
        if variant in VARIANTS["wide"]:
            return estimator(feature_reduction=variant, random_state=seed)
        # Subsamples as large as a whole context may be; neighbourhoods at the default.
        rows = WHOLE_CONTEXT_ROWS if variant == "subsample" else "auto"
        return estimator(context_selection=variant, max_context_rows=rows, random_state=seed)
    return make_model(name, task, categorical=categorical, threads=threads, seed=seed)


def run(args: argparse.Namespace) -> pd.DataFrame:
    path = args.out / "results.csv"
    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["dataset", "model"])
    finished = set(zip(done["dataset"], done["model"], strict=True))
    groups = {"large": LARGE, "wide": WIDE}
    for group in args.groups:
        for suite, names in groups[group].items():
            task = "classification" if suite == "cc18" else "regression"
            for name in names:
                X, y = load_parquet(find_parquet(args.data_dir, suite, name))
                X = model_ready(X)
                y = LabelEncoder().fit_transform(y) if task == "classification" else y.to_numpy()
                train, test = fold_indices(task, X, y, None, 5, args.seed)[0]
                test = cap_rows(test, y, task, args.max_test_rows, args.seed)
                n_classes = int(y.max()) + 1 if task == "classification" else 0
                categorical = list(X.select_dtypes("category").columns)
                ours = [f"ours-{variant}" for variant in VARIANTS[group]]
                for model_name in args.models or [*ours, *GBDTS]:
                    if (name, model_name) in finished:
                        continue
                    model = make(model_name, task, categorical, args.threads, args.seed)
                    try:
                        with threadpool_limits(args.threads):
                            scores = evaluate(model, task, X, y, train, test, n_classes)
                        scores["error"] = ""
                    except Exception as error:  # a failure is a result: record it, go on
                        scores = {"error": f"{type(error).__name__}: {error}"}
                    row = {"group": group, "dataset": name, "model": model_name,
                           "n_train": len(train), "n_test": len(test),
                           "n_features": X.shape[1], "n_classes": n_classes, **scores}  # fmt: skip
                    print(row, flush=True)
                    pd.DataFrame([row], columns=COLUMNS).to_csv(
                        path, mode="a", header=not path.exists(), index=False
                    )
    return pd.read_csv(path, dtype={"error": str})  # all-empty would read as float


def summary(results: pd.DataFrame) -> str:
    """One table per metric: datasets as rows, models as columns; then the failures."""
    lines = []
    for metric in ("roc_auc", "accuracy", "r2", "fit_seconds", "predict_seconds_per_1k"):
        if metric not in results or results[metric].isna().all():
            continue
        table = results.pivot_table(index="dataset", columns="model", values=metric)
        lines += [f"### {metric}", "", table.dropna(how="all").to_markdown(floatfmt=".4f"), ""]
    failed = results[results["error"].fillna("") != ""]
    lines += [f"### Failures ({len(failed)})", ""]
    lines += [f"- {r.dataset}, {r.model}: {r.error}" for r in failed.itertuples()] or ["None."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", nargs="+", choices=["large", "wide"], default=["large", "wide"])
    parser.add_argument("--models", nargs="+", help="default: our group's variants and the GBDTs")
    parser.add_argument("--max-test-rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = run(args)
    (args.out / "summary.md").write_text(summary(results))
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
