"""A seeded untrained generator over the bundled tokens, saved as a checkpoint directory."""

from dataclasses import replace
from pathlib import Path

import torch

from molecules.checkpoint import Generator, save_generator
from molecules.config import GeneratorConfig
from molecules.context import TokenIndex
from molecules.model import DemonstrationTransformer
from molecules.tokenizer import MotifTokenizer, bundled_tokens


def save_untrained_generator(directory: Path, **config) -> Generator:
    """Save one with 16 motifs at most and ``config`` (d_model, n_heads, n_layers, objective)."""
    torch.manual_seed(0)
    index = TokenIndex.load(bundled_tokens())
    config = GeneratorConfig(max_motifs=16, **config)
    model = DemonstrationTransformer(replace(config, n_tokens=len(index) + config.extra_tokens))
    generator = Generator(model.eval(), index, MotifTokenizer())
    save_generator(generator, directory)
    return generator
