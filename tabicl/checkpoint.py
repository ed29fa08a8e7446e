"""Checkpoints as ``model.safetensors`` + ``config.json``: nothing is unpickled."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import safetensors.torch

from tabicl.model import TabularConfig, TabularICL

WEIGHTS, CONFIG = "model.safetensors", "config.json"


def bundled_checkpoint(task: str) -> Path:
    """Directory of the checkpoint shipped in the package for ``task``."""
    name = {"classification": "classifier", "regression": "regressor"}[task]
    return Path(str(files("tabicl") / "checkpoints" / name))


def save_checkpoint(model: TabularICL, directory: str | Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    safetensors.torch.save_file(weights, directory / WEIGHTS)
    (directory / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return directory


def load_checkpoint(directory: str | Path) -> TabularICL:
    """Rebuild a :class:`TabularICL` from a checkpoint directory.

    Raises
    ------
    FileNotFoundError
        If the directory lacks ``model.safetensors`` or ``config.json``.
    ValueError
        If the weights do not match the architecture the config describes.
    """
    directory = Path(directory)
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise FileNotFoundError(
                f"{directory / name} not found: a checkpoint directory holds "
                f"{WEIGHTS} and {CONFIG} (see `python -m pretraining export`)"
            )
    config = TabularConfig(**json.loads((directory / CONFIG).read_text()))
    model = TabularICL(config)
    weights = safetensors.torch.load_file(directory / WEIGHTS)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:  # a weight of the wrong shape
        raise ValueError(f"{directory} does not match its config: {error}") from error
    if missing or unexpected:
        raise ValueError(
            f"{directory} does not match its config: missing {sorted(missing)}, "
            f"unexpected {sorted(unexpected)}"
        )
    return model.eval()
