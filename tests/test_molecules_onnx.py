"""The generator's ONNX export: the torch network's logits, and its molecules for a seed."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("rdkit")
pytest.importorskip("onnxruntime")

from untrained_generator import save_untrained_generator  # noqa: E402
from without_torch import run_without_torch  # noqa: E402

from molecules.context import make_context  # noqa: E402
from molecules.generator import DemonstrationGenerator  # noqa: E402
from molecules.model import TorchDecoder  # noqa: E402
from molecules.onnx import OnnxDecoder, export_onnx  # noqa: E402
from molecules.sampling import draw, sample_sequences  # noqa: E402

DEMOS = [("CCO", 0.1), ("c1ccccc1O", 0.8), ("CC(=O)Nc1ccc(O)cc1", 0.9), ("CCN(CC)CC", 0.4)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A seeded untrained two-layer generator over the bundled tokens, with its graphs."""
    directory = tmp_path_factory.mktemp("generator")
    generator = save_untrained_generator(directory, d_model=32, n_heads=2, n_layers=2)
    export_onnx(directory)
    return directory, generator


def test_step_logits_match_torch(checkpoint):
    directory, generator = checkpoint
    context = make_context([[5, 6, 7], [8, 9], [10]], [1.0, -1.0, 0.2])
    steps = {
        backend: decoder.start(context, score=0.7, n_samples=5)
        for backend, decoder in (
            ("torch", TorchDecoder(generator.model)),
            ("onnx", OnnxDecoder(directory)),
        )
    }
    tokens = np.full(5, 2)  # <bos>
    for position in range(6):
        expected = steps["torch"](tokens, position)
        np.testing.assert_allclose(steps["onnx"](tokens, position), expected, atol=1e-5)
        tokens = np.arange(5) + 20 * position + 3


def test_same_seed_gives_the_same_molecules(checkpoint):
    directory, _ = checkpoint
    molecules = {
        backend: DemonstrationGenerator(str(directory), backend=backend).generate(
            DEMOS, 40, random_state=1
        )
        for backend in ("torch", "onnx")
    }
    pd.testing.assert_frame_equal(molecules["onnx"], molecules["torch"])
    assert molecules["onnx"].attrs == molecules["torch"].attrs
    assert molecules["onnx"].attrs["validity"] == 1.0


def test_sequences_are_the_same_for_many_seeds(checkpoint):
    directory, generator = checkpoint
    context = make_context([[5, 6], [7, 8, 9]], [0.5, -0.5])
    for seed in range(5):
        sequences = [
            sample_sequences(
                decoder, generator.index, context, 1.0, 32, np.random.default_rng(seed), 0.7
            )
            for decoder in (TorchDecoder(generator.model), OnnxDecoder(directory))
        ]
        assert sequences[0] == sequences[1]


def test_draw_follows_the_softmax_of_allowed_tokens():
    logits = np.log([[0.2, 0.5, 0.3, 0.9]]).repeat(40_000, axis=0)
    allowed = np.array([True, True, True, False])[None].repeat(40_000, axis=0)
    allowed[-1] = False  # a row with no allowed token
    chosen = draw(logits, allowed, 1.0, np.random.default_rng(0))
    assert chosen[-1] == -1 and set(chosen[:-1]) == {0, 1, 2}
    np.testing.assert_allclose(np.bincount(chosen[:-1]) / 39_999, [0.2, 0.5, 0.3], atol=0.01)


def test_onnx_backend_needs_the_graphs(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"generator\.onnx \(step graph\).*export_onnx"):
        DemonstrationGenerator(str(tmp_path), backend="onnx").generate(DEMOS, 5)
    with pytest.raises(ValueError, match="backend='jax'"):
        DemonstrationGenerator(str(tmp_path), backend="jax").generate(DEMOS, 5)


def test_export_onnx_command_copies_the_checkpoint_and_writes_its_graphs(checkpoint, tmp_path):
    from molecules.__main__ import main

    source, _ = checkpoint
    out = tmp_path / "exported"
    main(["export-onnx", "--model-path", str(source), "--out", str(out)])
    assert {"model.safetensors", "generator.onnx", "generator.context.onnx"} <= {
        path.name for path in out.iterdir()
    }
    generated = DemonstrationGenerator(str(out), backend="onnx").generate(DEMOS, 5, random_state=0)
    assert len(generated) == 5


WITHOUT_TORCH = """
from molecules import DemonstrationGenerator
demos = [("CCO", 0.1), ("c1ccccc1O", 0.8), ("CC(=O)Nc1ccc(O)cc1", 0.9), ("CCN(CC)CC", 0.4)]
out = DemonstrationGenerator(sys.argv[1], backend="onnx").generate(demos, 5, random_state=0)
print(len(out), out.attrs["validity"])
"""


def test_generate_without_torch(checkpoint):
    directory, _ = checkpoint
    result = run_without_torch(WITHOUT_TORCH, str(directory))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("5 1.0")
