"""Generator API, grammar-constrained sampling, context tasks, pretraining CLI and export."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402
from untrained_generator import save_untrained_generator  # noqa: E402

from molecules.__main__ import main as molecules_main  # noqa: E402
from molecules.checkpoint import bundled_generator  # noqa: E402
from molecules.context import TokenIndex, make_context  # noqa: E402
from molecules.generator import DemonstrationGenerator  # noqa: E402
from molecules.sampling import sample_sequences  # noqa: E402
from molecules.surrogate import DemonstrationSurrogate  # noqa: E402
from molecules.tokenizer import MotifTokenizer, bundled_tokens  # noqa: E402
from pretraining.molecule_tasks import KINDS, build_corpus, sample_task  # noqa: E402

DEMOS = pd.DataFrame(
    {
        "smiles": ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"],
        "score": [0.1, 0.8, 0.9, 0.5],
    }
)
CORPUS = [
    "CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "CN1CCC[C@H]1c1cccnc1",
    "COc1ccc2[nH]cc(CCNC(C)=O)c2c1", "CC(=O)Nc1ccc(O)cc1", "O=C(O)c1ccccc1O",
    "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CCN(CC)CCNC(=O)c1ccc(N)cc1", "Clc1ccc(cc1)C(=O)N",
    "CC1=CC(=O)CC(C)(C)C1", "OCC1OC(O)C(O)C(O)C1O", "c1ccc2ccccc2c1",
]  # fmt: skip


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    """An untrained small generator over the bundled tokens: valid by construction."""
    directory = tmp_path_factory.mktemp("generator")
    save_untrained_generator(directory, d_model=16, n_heads=2, n_layers=1)
    return directory


def test_generates_valid_unique_canonical_molecules(random_checkpoint):
    out = DemonstrationGenerator(str(random_checkpoint)).generate(DEMOS, 20, random_state=0)
    assert len(out) == 20 and out["smiles"].is_unique
    assert all(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in out["smiles"])
    assert out.attrs["validity"] == 1.0  # grammar-constrained: every sequence closes
    assert list(out.columns) == ["smiles", "predicted_score", "similarity", "round"]
    assert out.attrs["sampled"] >= 20
    assert not set(out["smiles"]) & set(DEMOS["smiles"])  # new molecules only
    assert out["predicted_score"].is_monotonic_decreasing
    assert ((out["similarity"] >= 0) & (out["similarity"] < 1)).all()


def test_prefixes_start_samples_and_surrogate_ranks_candidates(random_checkpoint):
    generator = DemonstrationGenerator(str(random_checkpoint))
    generator._load()
    index, tokenizer = generator.index_, generator.tokenizer_
    context = make_context([index.encode(tokenizer, s) for s in DEMOS["smiles"]], [0.0] * 4)
    prefix = index.encode(tokenizer, "CC(C)Cc1ccc(C(C)C(=O)O)cc1")[:2]
    sequences = sample_sequences(
        generator.decoder_, index, context, 1.0, 3, np.random.default_rng(0), prefixes=[prefix] * 3
    )
    assert all(sequence[:2] == prefix for sequence in sequences)
    surrogate = DemonstrationSurrogate().fit(list(DEMOS["smiles"]), DEMOS["score"].to_numpy())
    near_best, near_worst = surrogate.predict(["CC(=O)Nc1ccc(OC)cc1", "CCCO"])
    assert near_best > near_worst


def test_more_candidates_raise_predicted_scores(random_checkpoint):
    few, many = (
        DemonstrationGenerator(str(random_checkpoint), candidates_per_sample=k).generate(
            DEMOS, 10, random_state=0
        )
        for k in (1, 4)
    )
    assert many["predicted_score"].mean() > few["predicted_score"].mean()
    with pytest.raises(ValueError, match="candidates_per_sample=0"):
        DemonstrationGenerator(candidates_per_sample=0).generate(DEMOS, 5)
    with pytest.raises(ValueError, match="prefix_share=2"):
        DemonstrationGenerator(prefix_share=2).generate(DEMOS, 5)


def test_reproducible_and_accepts_pairs(random_checkpoint):
    generator = DemonstrationGenerator(str(random_checkpoint))
    pairs = list(zip(DEMOS["smiles"], DEMOS["score"], strict=True))
    a = generator.generate(pairs, 10, random_state=3)
    b = generator.generate(DEMOS, 10, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    c = generator.generate(DEMOS, 10, random_state=4)
    assert list(a["smiles"]) != list(c["smiles"])


def test_invalid_demonstrations_are_listed_or_skipped(random_checkpoint):
    generator = DemonstrationGenerator(str(random_checkpoint))
    bad = pd.concat([DEMOS, pd.DataFrame({"smiles": ["C1CC", "xyz"], "score": [1.0, 2.0]})])
    with pytest.raises(ValueError, match=r"2 demonstration\(s\).*row 4: 'C1CC'.*row 5: 'xyz'"):
        generator.generate(bad, 5)
    with pytest.warns(UserWarning, match="left out 2 invalid"):
        assert len(generator.generate(bad, 5, random_state=0, invalid="skip")) == 5
    with pytest.raises(ValueError, match="lacks the column"):
        generator.generate(DEMOS.rename(columns={"score": "y"}), 5)
    with pytest.raises(ValueError, match="at least 2 valid"):
        generator.generate([("CCO", 1.0)], 5)
    with pytest.raises(ValueError, match="invalid='maybe'"):
        generator.generate(DEMOS, 5, invalid="maybe")


def test_uniqueness_counts_every_distinct_valid_sample(random_checkpoint, monkeypatch):
    # Every sample decodes to a new chain: all are distinct, also beyond n_samples.
    chains = (("C" * length) for length in range(1, 10_000))
    monkeypatch.setattr(DemonstrationGenerator, "_decode", lambda self, sequence: next(chains))
    out = DemonstrationGenerator(random_checkpoint).generate(DEMOS, 5, random_state=0)
    assert len(out) == 5 and out.attrs["sampled"] > 5
    assert out.attrs["uniqueness"] == 1.0


def test_context_targets_skip_molecule_boundaries():
    context = make_context([[5, 6], [7]], [1.0, -1.0])
    assert context["tokens"].tolist() == [2, 5, 6, 2, 7]  # <bos> = 2
    assert context["positions"].tolist() == [0, 1, 2, 0, 1]
    assert context["target"].tolist() == [5, 6, -100, 7, -100]
    assert context["scores"].tolist() == [1.0, 1.0, 1.0, -1.0, -1.0]


def test_tasks_score_every_kind():
    tokenizer, index = MotifTokenizer(), TokenIndex.load(bundled_tokens())
    corpus = build_corpus(CORPUS, tokenizer, index, max_tokens=40)
    assert 8 <= len(corpus) <= len(CORPUS)  # molecules with a motif the index lacks are left out
    assert index.decode(corpus.ids(0)) == tokenizer.tokenize(corpus.smiles[0])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        pool, scores, kind = sample_task(rng, corpus, 8)
        assert len(pool) == len(scores) and np.isfinite(scores).all()
        seen.add(kind)
    assert seen == set(KINDS)


@pytest.mark.parametrize("objective", ["autoregressive", "masked_diffusion"])
def test_pretraining_cli_export_and_generate(tmp_path, objective):
    from pretraining.__main__ import cli_main

    corpus = tmp_path / "corpus.smi"
    corpus.write_text("\n".join(CORPUS * 2) + "\n")
    run = tmp_path / "run"
    cli_main(
        [
            "fit",
            "--config", "pretraining/configs/molecules-tiny.yaml",
            "--trainer.max_steps", "3",
            "--trainer.default_root_dir", str(run),
            "--trainer.logger.init_args.save_dir", str(run),
            "--trainer.enable_progress_bar", "false",
            "--data.init_args.corpus", str(corpus),
            "--data.init_args.n_molecules", "24",
            "--data.init_args.cache", str(run / "corpus.npz"),
            "--model.init_args.config.objective", objective,
        ]
    )  # fmt: skip
    checkpoint = next(run.rglob("last.ckpt"))
    molecules_main(["export", str(checkpoint), str(tmp_path / "exported")])
    assert (tmp_path / "exported" / "MODEL_CARD.md").is_file()
    demos = tmp_path / "demos.csv"
    DEMOS.to_csv(demos, index=False)
    out = tmp_path / "out.csv"
    molecules_main(
        ["generate", "--demos", str(demos), "-n", "5", "-o", str(out),
         "--model-path", str(tmp_path / "exported")]
    )  # fmt: skip
    assert len(pd.read_csv(out)) == 5


@pytest.mark.skipif(not bundled_generator().is_dir(), reason="no bundled generator yet")
def test_bundled_generator_generates():
    out = DemonstrationGenerator().generate(DEMOS, 10, random_state=0)
    assert len(out) == 10 and out.attrs["validity"] >= 0.95


def test_masked_diffusion_denoises_at_generation_as_in_training(tmp_path):
    import torch

    from molecules.model import masked_token_loss
    from pretraining.molecule_module import collate, draw_noise

    model = save_untrained_generator(
        tmp_path, n_layers=2, d_model=32, n_heads=2, objective="masked_diffusion"
    ).model
    demos, noised = [[5, 7], [9, 11, 13]], [4, 8, 10]
    mask = model.config.n_tokens - 1
    both = make_context([demos[0], noised, demos[1]], [0.5, 1.0, -1.0])
    molecule = torch.tensor([[0] * 3 + [1] * 4 + [2] * 4])
    clean = molecule != 1
    tokens = torch.as_tensor(both["tokens"])[None].clone()
    tokens[0, 4:6] = mask  # the noised molecule keeps its <bos> and last token
    inputs = [torch.as_tensor(both[k])[None] for k in ("positions", "scores")]
    with torch.no_grad():
        trained = model.denoise(tokens, *inputs, molecule, clean)[0, 3:7]
        context = make_context(demos, [0.5, -1.0])
        shared = model.encode_demonstrations(
            *[torch.as_tensor(context[k])[None] for k in ("tokens", "positions", "scores")]
        )
        canvas = tokens[:, 3:7]
        generated = model.denoise_after(
            canvas, torch.arange(4)[None], torch.full((1, 4), 1.0), shared
        )[0]
    torch.testing.assert_close(trained, generated, atol=1e-5, rtol=1e-5)
    # The loss reads the mask rates that the data module draws; padding stays out of it.
    rng = np.random.default_rng(0)
    contexts = [make_context(demos, [0.0, 1.0]), both]
    batch = collate([{**c, **draw_noise(c["positions"], rng)} for c in contexts])
    assert torch.isfinite(masked_token_loss(model, batch))


def test_masked_diffusion_generator_fills_demonstration_lengths(tmp_path):
    save_untrained_generator(
        tmp_path, n_layers=1, d_model=32, n_heads=2, objective="masked_diffusion"
    )
    generator = DemonstrationGenerator(str(tmp_path), candidates_per_sample=1, max_rounds=3)
    out = generator.generate(DEMOS, n_samples=4, random_state=0)
    assert out.attrs["sampled"] > 0 and 0 <= out.attrs["validity"] <= 1
    assert all(Chem.MolFromSmiles(s) is not None for s in out["smiles"])
