"""Priors, batches, and the pretraining CLI from fit to an exported checkpoint."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

from pretraining.__main__ import cli_main
from pretraining.data import PriorStream, make_batch
from pretraining.module import GROWABLE, TabularICLModule
from pretraining.priors import FAMILIES, PriorConfig, cut_into_classes, sample_table
from pretraining.realtables import load_real_tables, sample_real_task
from pretraining.validation import score_model
from tabicl import TabICLClassifier
from tabicl.checkpoint import bundled_checkpoint, load_checkpoint, save_checkpoint
from tabicl.model import TabularConfig, TabularICL

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("family", FAMILIES)
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
def test_tables_are_learnable(task, model, chance):
    """A random forest beats chance on average over sampled tables."""
    scores, baselines = [], []
    for seed in range(12):
        table = sample_table(seed, 300, 6, task, PriorConfig())
        pipeline = make_pipeline(SimpleImputer(), model(n_estimators=30, random_state=0))
        scores.append(cross_val_score(pipeline, table.x, table.y, cv=3).mean())
        if chance is None:
            baselines.append(np.bincount(table.y.astype(int)).max() / len(table.y))
    assert np.mean(scores) > (np.mean(baselines) if chance is None else chance)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_learnable(family):
    """Per family, a random forest beats the majority class on average."""
    gains = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x, y = family(rng, 300, 5)
        y = cut_into_classes(rng, y, 4)
        accuracy = cross_val_score(RandomForestClassifier(30, random_state=0), x, y, cv=3).mean()
        gains.append(accuracy - np.bincount(y.astype(int)).max() / len(y))
    assert np.mean(gains) > 0.05


def test_class_noise_makes_classes_overlap():
    """Without noise a class is a function of the features; with it, classes overlap."""
    plain = PriorConfig(p_trees=0.0, p_fourier=0.0, p_linear=1.0, p_categorical=0.0,
                        p_missing=0.0, p_integer=0.0, p_duplicate=0.0)  # fmt: skip

    def accuracy(max_class_noise: float) -> float:
        config = replace(plain, max_class_noise=max_class_noise)
        tables = [sample_table(seed, 300, 4, "classification", config) for seed in range(6)]
        model = LogisticRegression(max_iter=1000)
        return np.mean([cross_val_score(model, t.x, t.y, cv=3).mean() for t in tables])

    assert accuracy(0.0) > accuracy(2.0) + 0.05


@pytest.fixture(scope="module")
def real_table_dir(tmp_path_factory):
    """Two small real-looking tables: numbers, a category with missing values, text."""
    directory = tmp_path_factory.mktemp("realtables")
    rng = np.random.default_rng(0)
    n = 300
    age = rng.integers(18, 80, n).astype(float)
    frame = pd.DataFrame(
        {
            "age": age,
            "income": age * 100 + rng.normal(0, 500, n),
            "region": pd.Categorical(rng.choice(["north", "south", None], n)),
            "smoker": rng.choice(["yes", "no"], n),
        }
    )
    frame.to_parquet(directory / "a.parquet")
    frame.iloc[:100, :2].to_parquet(directory / "b.parquet")  # too small for 200 rows
    return str(directory)


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_real_tasks_are_cut_from_real_tables(real_table_dir, task):
    tables = load_real_tables(real_table_dir)
    assert [t.values.shape for t in tables] == [(300, 4), (100, 2)]
    for seed in range(10):
        table = sample_real_task(np.random.default_rng(seed), tables, 200, 3, task, 3)
        assert table.x.shape == (200, 3) and np.isfinite(table.y).all()
        if task == "classification":
            assert set(np.unique(table.y)) <= {0, 1, 2}
        else:  # only "age" and "income" have enough distinct values
            assert len(np.unique(table.y)) >= 10
    assert sample_real_task(np.random.default_rng(0), tables, 400, 3, task, 3) is None


def test_batches_mix_real_and_synthetic_tables(real_table_dir):
    batch = make_batch(
        1,
        0,
        "classification",
        PriorConfig(),
        100,
        200,
        3,
        20000,
        real_tables=real_table_dir,
        p_real=1.0,
    )
    assert batch["x"].shape[2] == 3 and batch["x"].shape[0] > 1


def test_stream_partitions_batches_over_processes_and_workers():
    args = dict(
        seed=0,
        task="classification",
        prior=PriorConfig(),
        min_rows=16,
        max_rows=32,
        max_features=3,
        cells_per_batch=500,
    )

    def first(stream, n=4):
        return [batch["y"] for batch, _ in zip(stream, range(n), strict=False)]

    single = first(PriorStream(0, **args), 8)
    rank1 = first(PriorStream(2, rank=1, world_size=2, **args), 2)
    torch.testing.assert_close(rank1, single[5::2][:2])  # steps 2, 3 -> batches 5, 7
    workers = first(
        torch.utils.data.DataLoader(PriorStream(3, **args), batch_size=None, num_workers=2), 4
    )
    torch.testing.assert_close(workers, single[3:7])


def test_curriculum_grows_tables_to_max_rows():
    def rows(index: int) -> int:
        batch = make_batch(index, 0, "classification", PriorConfig(), 16, 512, 3, 20000,
                           curriculum_batches=100)  # fmt: skip
        return batch["x"].shape[1]

    assert max(rows(i) for i in range(20)) <= 64 + 448 * 19 // 100
    assert max(rows(i) for i in range(100, 130)) > 256


def test_batches_are_seeded_by_index():
    a = make_batch(5, 0, "regression", PriorConfig(), 16, 64, 5, 5000)
    b = make_batch(5, 0, "regression", PriorConfig(), 16, 64, 5, 5000)
    torch.testing.assert_close(a["x"], b["x"], equal_nan=True)
    assert a["x"].shape[:2] == a["y"].shape
    assert 0 <= a["y"].min() and a["y"].max() <= 1  # regression targets are ranks


def tiny_args(root, *extra: str) -> list[str]:
    """The tiny config with every output under ``root``."""
    return [
        "fit", "--config", str(ROOT / "pretraining/configs/tiny.yaml"),
        "--trainer.default_root_dir", str(root),
        "--trainer.logger.init_args.save_dir", str(root),
        "--trainer.enable_progress_bar", "false",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A folder laid out like ../shared/datasets with one small classification table."""
    directory = tmp_path_factory.mktemp("datasets")
    (directory / "cc18").mkdir()
    X = np.random.default_rng(0).standard_normal((120, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(target=(X[:, 0] > 0).astype(int))
    frame.to_parquet(directory / "cc18" / "1_toy.parquet")
    return directory


def test_tiny_config_trains_validates_and_exports_a_loadable_checkpoint(tmp_path, data_dir):
    cli_main(
        tiny_args(
            tmp_path, "--trainer.max_steps", "6",
            "--trainer.callbacks+=pretraining.validation.RealDataValidation",
            "--trainer.callbacks.datasets", "[toy, absent]",
            "--trainer.callbacks.data_dir", str(data_dir),
            "--trainer.callbacks.every_n_steps", "2",
        )
    )  # fmt: skip
    run = tmp_path / "lightning_logs" / "version_0"
    metrics = pd.read_csv(run / "metrics.csv")
    assert metrics["val/toy"].notna().sum() == 3 and metrics["val/mean"].notna().sum() == 3
    checkpoint = run / "checkpoints" / "final.ckpt"
    cli_main(["export", str(checkpoint), str(tmp_path / "exported")])
    card = (tmp_path / "exported" / "MODEL_CARD.md").read_text()
    assert "Optimiser steps: 6" in card and "## Training config" in card
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = TabICLClassifier(model_path=tmp_path / "exported").fit(X, y)
    assert clf.predict_proba(X).shape == (40, 2)

    curve_csv, curve_png = tmp_path / "curve.csv", tmp_path / "curve.png"
    cli_main(
        ["curve", *map(str, sorted(run.glob("checkpoints/*.ckpt"))), "--datasets", "toy",
         "--data-dir", str(data_dir), "--csv", str(curve_csv), "--plot", str(curve_png)]
    )  # fmt: skip
    curve = pd.read_csv(curve_csv)
    assert set(curve["step"]) == {5, 6} and curve["tables_seen"].is_monotonic_increasing
    assert curve_png.stat().st_size > 0


def test_validation_scores_the_network_it_is_given(data_dir):
    model = load_checkpoint(bundled_checkpoint("classification"))
    (score,) = score_model(model, ["toy"], data_dir, folds=2).values()
    assert score > 0.9  # x[:, 0] > 0 is easy for the shipped classifier


KILLER = """
import os, signal
from lightning.pytorch.callbacks import Callback

class KillAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
"""


def run_cli(args: list[str], pythonpath: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{pythonpath}{os.pathsep}{ROOT}", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "pretraining", *args], cwd=ROOT, env=env, capture_output=True,
        text=True,
    )  # fmt: skip


def test_a_killed_run_resumes_to_the_same_weights(tmp_path):
    """SIGKILL after step 8 (last checkpoint at step 5), rerun the same command: the run
    resumes at step 5, sees the same tables and ends with the uninterrupted run's weights
    and learning curve."""
    (tmp_path / "killer.py").write_text(KILLER)
    steps = ("--trainer.max_steps", "12", "--trainer.log_every_n_steps", "1",
             "--trainer.logger.init_args.flush_logs_every_n_steps", "1")  # fmt: skip
    killed = run_cli(
        tiny_args(tmp_path / "killed", *steps, "--trainer.callbacks+=killer.KillAtStep",
                  "--trainer.callbacks.step", "8"),
        tmp_path,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = run_cli(tiny_args(tmp_path / "killed", *steps), tmp_path)
    assert resumed.returncode == 0 and "Restored all states" in resumed.stderr
    straight = run_cli(tiny_args(tmp_path / "straight", *steps), tmp_path)
    assert straight.returncode == 0, straight.stderr[-2000:]

    def final(run: str) -> dict:
        path = tmp_path / run / "lightning_logs/version_0/checkpoints/final.ckpt"
        return torch.load(path, weights_only=False)

    a, b = final("killed"), final("straight")
    assert a["global_step"] == b["global_step"] == 12 and a["tables_seen"] == b["tables_seen"]
    for name, weights in a["state_dict"].items():
        torch.testing.assert_close(weights, b["state_dict"][name], rtol=0, atol=0)
    curves = [
        (tmp_path / run / "lightning_logs/version_0/metrics.csv").read_text()
        for run in ("killed", "straight")
    ]
    assert curves[0] == curves[1] and len(curves[0].splitlines()) == 13  # header, 12 steps


def test_ddp_over_gloo_on_two_cpu_processes(tmp_path):
    """The multi-GPU path (Lightning's DDP) exercised on CPU: two processes, gloo."""
    result = run_cli(
        tiny_args(tmp_path, "--trainer.max_steps", "3", "--trainer.strategy", "ddp",
                  "--trainer.devices", "2"),
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    state = torch.load(tmp_path / "lightning_logs/version_0/checkpoints/final.ckpt",
                       weights_only=False)  # fmt: skip
    assert state["global_step"] == 3
    single = run_cli(tiny_args(tmp_path / "single", "--trainer.max_steps", "3"), tmp_path)
    assert single.returncode == 0
    alone = torch.load(tmp_path / "single/lightning_logs/version_0/checkpoints/final.ckpt",
                       weights_only=False)  # fmt: skip
    assert state["tables_seen"] > alone["tables_seen"]  # both processes' tables are counted


GROWTHS = [{switch: True} for switch in GROWABLE] + [
    {"n_icl_layers": 4},
    {"n_icl_layers": 3, "distance_attention": True},
]


@pytest.mark.parametrize("distance_attention", [False, True])
@pytest.mark.parametrize("growth", GROWTHS, ids=lambda growth: "+".join(growth))
def test_init_from_grows_the_network_where_it_was(tmp_path, growth, distance_attention):
    torch.manual_seed(0)
    config = TabularConfig(
        d_cell=8, d_model=16, n_heads=2, n_icl_layers=2, max_features=6,
        distance_attention=distance_attention,
    )  # fmt: skip
    start = TabularICL(config).eval()
    save_checkpoint(start, tmp_path)
    grown = TabularICLModule(replace(config, **growth), init_from=str(tmp_path))
    x, y = torch.randn(1, 40, 4), torch.randint(0, 3, (1, 30)).float()
    with torch.no_grad():
        torch.testing.assert_close(grown.model.eval()(x, y), start(x, y))
    assert grown.model.config.n_icl_layers == growth.get("n_icl_layers", 2)
    for changed in ({"d_model": 32}, {"n_icl_layers": 1}):
        with pytest.raises(ValueError, match="make the config match"):
            TabularICLModule(replace(config, **changed), init_from=str(tmp_path))


def test_average_writes_the_mean_of_the_weights_of_one_architecture(tmp_path):
    config = TabularConfig(d_cell=8, d_model=16, n_heads=2, n_icl_layers=2, max_features=6)
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(TabularICL(config))
        save_checkpoint(models[-1], tmp_path / f"stage{seed}")
    save_checkpoint(TabularICL(replace(config, n_icl_layers=3)), tmp_path / "deeper")

    def average(*names):
        cli_main(
            ["average", *(str(tmp_path / name) for name in names), "--out", str(tmp_path / "soup")]
        )

    average("stage0", "stage1")
    soup = load_checkpoint(tmp_path / "soup").state_dict()
    for name, weight in models[0].state_dict().items():
        torch.testing.assert_close(soup[name], (weight + models[1].state_dict()[name]) / 2)
    assert "stage1" in (tmp_path / "soup" / "MODEL_CARD.md").read_text()
    with pytest.raises(ValueError, match="another architecture"):
        average("stage0", "deeper")
    with pytest.raises(ValueError, match="two or more"):
        average("stage0")


# Overlays of another config: they are composed on top of it, never run alone.
OVERLAYS = {
    "gpu-regressor.yaml": "gpu.yaml",
    "cpu-regressor.yaml": "cpu.yaml",
    "multi-gpu.yaml": "gpu.yaml",
}


def _composed_config(config: str, capsys) -> dict:
    """``config`` (on its base, for an overlay) as the CLI composes it, via --print_config."""
    names = [OVERLAYS[config], config] if config in OVERLAYS else [config]
    arguments = [
        a for name in names for a in ("--config", str(ROOT / "pretraining/configs" / name))
    ]
    with pytest.raises(SystemExit) as stopped:
        cli_main(["fit", *arguments, "--print_config"])
    assert stopped.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize(
    "config", ["cpu.yaml", "cpu-regressor.yaml", "gpu.yaml", "gpu-regressor.yaml"]
)
def test_configs_that_continue_a_bundled_checkpoint_build_from_it(config, capsys):
    """A network that differs from its ``init_from`` stops a run at its start: on a lent
    GPU, after the machine's start has been paid for (gpu.yaml once lacked distance attention)."""
    model = _composed_config(config, capsys)["model"]["init_args"]
    module = TabularICLModule(
        config=TabularConfig(**model["config"]), init_from=str(ROOT / model["init_from"])
    )
    bundled = load_checkpoint(ROOT / model["init_from"])
    for name, weights in bundled.state_dict().items():
        torch.testing.assert_close(module.model.state_dict()[name], weights)


@pytest.mark.parametrize(
    "config", sorted(p.name for p in (ROOT / "pretraining/configs").glob("*.yaml"))
)
def test_every_config_parses(config, capsys):
    """Configs that need a GPU or a cluster are never run here: at least they parse."""
    assert "class_path" in _composed_config(config, capsys)["model"]
