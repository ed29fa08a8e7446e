"""Generator checkpoints: ``model.safetensors``, ``config.json``, ``tokens.txt`` and
``motifs.txt`` in one directory; nothing is unpickled.

torch is imported only where weights are read or written: the ONNX backend uses the
directory's other files without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from molecules.config import GeneratorConfig
from molecules.context import TokenIndex
from molecules.motifs import MotifVocabulary
from molecules.tokenizer import MotifTokenizer

if TYPE_CHECKING:
    from molecules.model import DemonstrationTransformer

WEIGHTS, CONFIG, TOKENS, MOTIFS = "model.safetensors", "config.json", "tokens.txt", "motifs.txt"


@dataclass
class Generator:
    """What a checkpoint holds: the network, its token index and its tokenizer."""

    model: DemonstrationTransformer
    index: TokenIndex
    tokenizer: MotifTokenizer


def bundled_generator() -> Path:
    """Directory of the generator checkpoint shipped in the package."""
    return Path(str(files("molecules") / "checkpoints" / "generator"))


def save_generator(generator: Generator, directory: str | Path) -> Path:
    import safetensors.torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous() for k, v in generator.model.state_dict().items()}
    safetensors.torch.save_file(weights, directory / WEIGHTS)
    config = generator.model.config.to_dict()
    (directory / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    generator.index.save(directory / TOKENS)
    generator.tokenizer.vocabulary.save(directory / MOTIFS)
    return directory


def load_generator(directory: str | Path) -> Generator:
    """Rebuild a :class:`Generator` from a checkpoint directory.

    Raises
    ------
    FileNotFoundError
        If a file of the checkpoint is missing.
    ValueError
        If the weights do not match the config or the token index.
    """
    import safetensors.torch

    from molecules.model import DemonstrationTransformer

    directory = Path(directory)
    for name in (WEIGHTS, CONFIG, TOKENS, MOTIFS):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory / name} not found: a generator checkpoint holds {WEIGHTS}, "
                f"{CONFIG}, {TOKENS} and {MOTIFS} (see `python -m molecules export`)"
            )
    config = GeneratorConfig(**json.loads((directory / CONFIG).read_text()))
    index = TokenIndex.load(directory / TOKENS)
    if len(index) + config.extra_tokens != config.n_tokens:
        raise ValueError(
            f"{directory}: {TOKENS} has {len(index)} tokens (+{config.extra_tokens} for "
            f"{config.objective}), config {config.n_tokens}"
        )
    model = DemonstrationTransformer(config)
    missing, unexpected = model.load_state_dict(
        safetensors.torch.load_file(directory / WEIGHTS), strict=False
    )
    if missing or unexpected:
        raise ValueError(
            f"{directory} does not match its config: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    tokenizer = MotifTokenizer(MotifVocabulary.load(directory / MOTIFS))
    return Generator(model.eval(), index, tokenizer)
