"""The OpenML benchmark CLI on tiny tables, and the shared reporting code."""

import types

import numpy as np
import openml
import pandas as pd
import pytest

from benchmarks import openml as bench
from benchmarks.foundation import summarise
from benchmarks.reporting import (
    Metric,
    ResultStore,
    normalised_scores,
    package_source,
    ranks,
    wins_ties_losses,
)


def _table(rng, n_rows: int, target) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x0": rng.normal(size=n_rows),
            "x1": np.where(rng.random(n_rows) < 0.1, np.nan, rng.normal(size=n_rows)),
            "colour": pd.Categorical(rng.choice(["red", "blue", None], n_rows)),
            "flag": rng.random(n_rows) < 0.5,
            "target": target,
        }
    )


@pytest.fixture
def data_dir(tmp_path):
    """Two classification sets and one regression set laid out like ../shared/datasets."""
    rng = np.random.default_rng(0)
    (tmp_path / "cc18").mkdir()
    (tmp_path / "ctr23").mkdir()
    three = pd.Categorical(rng.choice(["a", "b", "c"], 90))
    _table(rng, 90, three).to_parquet(tmp_path / "cc18" / "11_three.parquet")
    two = pd.Categorical(rng.choice(["yes", "no"], 60))
    _table(rng, 60, two).to_parquet(tmp_path / "cc18" / "3_two.parquet")
    _table(rng, 60, rng.normal(size=60)).to_parquet(tmp_path / "ctr23" / "7_real.parquet")
    return tmp_path


def _rows(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "results.csv", keep_default_na=False)


def test_quick_run_writes_results_and_resumes(data_dir, tmp_path, monkeypatch):
    args = ["--suite", "cc18", "--data-dir", str(data_dir), "--quick", "--out", str(tmp_path)]
    run_dir = bench.main([*args, "--models", "linear,rf,ours"])
    rows = _rows(run_dir)
    # OpenML id order; 2 folds each; every model on the same folds.
    assert list(rows["dataset"].unique()) == ["two", "three"]
    assert len(rows) == 2 * 2 * 3 and (rows["error"] == "").all()
    assert rows.groupby(["dataset", "fold"])["n_test"].nunique().eq(1).all()
    assert rows["roc_auc"].between(0, 1).all() and (rows["log_loss"] > 0).all()
    assert (run_dir / "ranks.png").stat().st_size and (run_dir / "scores.png").stat().st_size
    summary = (run_dir / "summary.md").read_text()
    assert "2 of 2 datasets complete" in summary and "Failures (0 cells)" in summary

    # Rerunning the same command computes nothing.
    monkeypatch.setattr(bench, "evaluate", pytest.fail)
    bench.main([*args, "--models", "linear,rf,ours"])
    assert len(_rows(run_dir)) == 12

    # A new checkpoint recomputes ours only; the peers' cells are reused.
    monkeypatch.undo()
    version = bench.model_version
    monkeypatch.setattr(
        bench,
        "model_version",
        lambda name, *rest: "new" if name == "ours" else version(name, *rest),
    )
    bench.main([*args, "--models", "linear,rf,ours", "--datasets", "two"])
    new = _rows(run_dir).iloc[12:]
    assert len(new) == 2 and set(new["model"]) == {"ours"} and set(new["model_version"]) == {"new"}
    assert "--datasets two`" in (run_dir / "summary.md").read_text()

    # Back on the first checkpoint, the report quotes the runs that made its cells.
    monkeypatch.undo()
    bench.main([*args, "--models", "linear,rf,ours", "--report-only"])
    summary = (run_dir / "summary.md").read_text()
    assert "--datasets two" not in summary and "2 of 2 datasets complete" in summary


def test_regression_records_failures(data_dir, tmp_path, monkeypatch):
    make_model = bench.make_model

    def failing_rf(name, *args, **kwargs):
        if name == "rf":
            raise MemoryError("rf ran out of memory")
        return make_model(name, *args, **kwargs)

    monkeypatch.setattr(bench, "make_model", failing_rf)
    run_dir = bench.main(
        ["--suite", "ctr23", "--data-dir", str(data_dir), "--folds", "3", "--out", str(tmp_path)]
        + ["--models", "linear,rf", "--max-train-rows", "30"]
    )
    rows = _rows(run_dir)
    assert len(rows) == 6 and (rows["n_train"] == 30).all() and (rows["n_train_fold"] == 40).all()
    failed = rows[rows["model"] == "rf"]
    assert (failed["error"] == "MemoryError: rf ran out of memory").all()
    assert rows.loc[rows["model"] == "linear", "r2"].notna().all()
    summary = (run_dir / "summary.md").read_text()
    assert "Failures (3 cells)" in summary and "rf ran out of memory" in summary


def test_openml_source_uses_the_official_splits(tmp_path, monkeypatch):
    """The network calls are replaced by a fake suite whose task has 3 official folds."""
    rng = np.random.default_rng(1)
    frame = _table(rng, 45, pd.Categorical(rng.choice(["a", "b"], 45)))
    folds = [np.arange(45)[fold::3] for fold in range(3)]
    splits = [(np.setdiff1d(np.arange(45), test), test) for test in folds]

    class Task:
        def get_dataset(self):
            return type("Dataset", (), {"name": "fake-set", "qualities": {"NumberOfInstances": 45}})

        def get_X_and_y(self, dataset_format):
            assert dataset_format == "dataframe"
            return frame.drop(columns="target"), frame["target"]

        def get_split_dimensions(self):
            return 1, len(splits), 1

        def get_train_test_split_indices(self, fold):
            return splits[fold]

    suites = []
    monkeypatch.setattr(
        openml.study,
        "get_suite",
        lambda study: suites.append(study) or type("S", (), {"tasks": [9]}),
    )
    monkeypatch.setattr(openml.tasks, "get_task", lambda task_id, download_splits: Task())
    run_dir = bench.main(
        ["--suite", "cc18", "--source", "openml", "--folds", "2", "--models", "linear"]
        + ["--out", str(tmp_path)]
    )
    rows = _rows(run_dir)
    assert suites == [99] and run_dir.name == "cc18-2fold-openml"
    assert list(rows["dataset"]) == ["fake-set"] * 2 and list(rows["n_test"]) == [15, 15]


def test_resuming_with_another_protocol_is_refused(data_dir, tmp_path):
    args = ["--suite", "ctr23", "--data-dir", str(data_dir), "--models", "linear"]
    bench.main([*args, "--folds", "2", "--out", str(tmp_path), "--run-id", "run"])
    with pytest.raises(ValueError, match="--run-id"):
        bench.main([*args, "--folds", "3", "--out", str(tmp_path), "--run-id", "run"])


def test_aggregates_rank_failures_last():
    scores = pd.DataFrame(
        {"a": [0.9, 0.8, 0.7], "b": [0.8, 0.8, np.nan], "c": [0.7, 0.6, 0.5]},
        index=["d1", "d2", "d3"],
    )
    assert ranks(scores, higher_is_better=True).mean().tolist() == pytest.approx(
        [3.5 / 3, 6.5 / 3, 8 / 3]
    )
    normalised = normalised_scores(scores, higher_is_better=True)
    assert normalised.loc["d1"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    assert normalised.loc["d3"].tolist() == [1.0, 0.0, 0.0]
    table = wins_ties_losses(scores, higher_is_better=True)
    assert table.loc["a", "b"] == "2/1/0" and table.loc["b", "c"] == "2/0/1"
    # Lower is better: the order flips.
    assert ranks(-scores, higher_is_better=False).equals(ranks(scores, higher_is_better=True))


def test_result_store_refuses_other_columns(tmp_path):
    store = ResultStore(tmp_path / "r.csv", ["dataset", "fold", "model", "model_version", "error"])
    store.append(dict(dataset="d", fold=0, model="m", model_version="1", error=""))
    assert store.finished() == {("d", "0", "m", "1")}
    with pytest.raises(ValueError, match="has columns"):
        ResultStore(tmp_path / "r.csv", ["dataset", "fold", "model", "model_version", "x", "error"])
    assert Metric("r2", True).higher_is_better


def test_code_version_ignores_docstrings_and_comments(tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    module = package / "__init__.py"

    def version(source: str) -> bytes:
        module.write_text(source)
        return package_source(types.SimpleNamespace(__file__=str(module)))

    code = version('"""Old."""\n\ndef f(x):\n    """Old."""\n    return x + 1\n')
    assert version('"""New."""\n\n\ndef f(x):  # why\n    """New."""\n    return x + 1\n') == code
    assert version('"""Old."""\n\ndef f(x):\n    """Old."""\n    return x + 2\n') != code
    assert version("") != code  # an empty module, such as a bare __init__.py


def test_foundation_summary_reports_the_seed_spread():
    rows = [
        dict(task="classification", dataset=d, fold=f, model=m, seed=s, metric="roc_auc", score=v)
        for d in ("d1", "d2")
        for f in range(2)
        for m, s, v in [("ours", 0, 0.90), ("ours", 1, 0.80), ("ours", 2, 0.97), ("linear", 0, 0.9)]
    ]
    summary = summarise(pd.DataFrame(rows))
    header = [c.strip() for c in summary.splitlines()[2].split("|")[1:-1]]
    assert header == [
        "dataset",
        "ours",
        "linear",
        "ours, mean of 3 seeds",
        "ours, lowest of 3 seeds",
    ]
    d1 = [c.strip() for c in summary.splitlines()[4].split("|")[1:-1]]
    assert d1 == ["d1", "0.9000", "0.9000", "0.8900", "0.8000"]
    # One seed: the columns of the single-seed protocol only.
    single = summarise(pd.DataFrame([r for r in rows if r["seed"] == 0]))
    assert "seeds" not in single
