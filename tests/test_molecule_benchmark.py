"""The molecule design benchmark: its metrics, one cell of each kind, resuming."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from benchmarks import molecules as bench  # noqa: E402

ZINC = Path("../shared/molecules/zinc250k.smi.gz")


def test_design_metrics():
    smiles = ["CCO", "CCCO", "c1ccccc1", "CC(=O)O"]
    row = bench.design_metrics(smiles, np.array([0.2, 0.4, 0.9, 0.1]), 5, {"CCO"})
    assert row["top1"] == 0.9 and row["best_smiles"] == "c1ccccc1"
    assert row["top10"] == pytest.approx(0.4)
    parts = [row["top1"], row["top10"], row["diversity"]]
    assert row["harmonic"] == pytest.approx(3 / sum(1 / p for p in parts))
    assert row["validity"] == 0.8 and row["novelty"] == 0.75


@pytest.mark.skipif(not ZINC.is_file(), reason="needs ../shared/molecules/zinc250k.smi.gz")
def test_ablation_cells_resume(tmp_path):
    args = ["--ablation", "--tasks", "albuterol_similarity", "--tokenizer-molecules", "0"]
    args += ["--models", "ours, network only", "Graph GA (0 calls) + surrogate"]
    bench.main([*args, "--out", str(tmp_path)])
    scores = pd.read_csv(tmp_path / "scores.csv", keep_default_na=False)
    assert set(scores["model"]) == {"ours, network only", "Graph GA (0 calls) + surrogate"}
    assert (scores["error"] == "").all() and (scores["n_molecules"] == 100).all()
    assert (scores["novelty"] == 1.0).all()
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "best_molecules.png").is_file()
    bench.main([*args, "--out", str(tmp_path)])  # finished cells are not run again
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 2
