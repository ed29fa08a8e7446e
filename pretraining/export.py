"""Turn a Lightning checkpoint into the safetensors + JSON checkpoint the estimators load."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from pretraining.module import TabularICLModule
from tabicl.checkpoint import load_checkpoint, save_checkpoint


def export(checkpoint: str | Path, out_dir: str | Path, command: str = "") -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``MODEL_CARD.md`` to ``out_dir``.

    ``command`` is the training command recorded in the model card.
    """
    checkpoint = Path(checkpoint)
    # Our own Lightning checkpoint: it holds hyper-parameters besides tensors.
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    module = TabularICLModule.load_from_checkpoint(checkpoint, map_location="cpu", init_from=None)
    out_dir = save_checkpoint(module.model, out_dir)
    facts = [f"- Tables seen: {state.get('tables_seen', 0):,}"]
    title = f"TabularICL ({module.model.config.task})"
    write_model_card(out_dir, title, module.model, state, checkpoint, command, facts)
    return out_dir


def average(checkpoints: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Write the mean of exported checkpoints' weights (a weight soup) to ``out_dir``.

    Only checkpoints that start from one set of weights (a stage and the stage it
    continued, or two continuations of one stage) lie in one basin where their mean is a
    working network (Wortsman et al., 2022, "Model soups"). Whether it predicts better
    than either is for the benchmarks to say: none of the soups in docs/pretraining.md
    (stages 13 and 14) did.

    Raises
    ------
    ValueError
        If fewer than two checkpoints are given or their architectures differ.
    """
    if len(checkpoints) < 2:
        raise ValueError(f"averaging needs two or more checkpoints, got {len(checkpoints)}")
    models = [load_checkpoint(checkpoint) for checkpoint in checkpoints]
    config = models[0].config
    for checkpoint, model in zip(checkpoints[1:], models[1:], strict=True):
        if model.config != config:
            raise ValueError(
                f"{checkpoint} has another architecture than {checkpoints[0]} "
                f"({model.config} against {config}): only one network's weights average"
            )
    states = [model.state_dict() for model in models]
    soup = {name: torch.stack([state[name] for state in states]).mean(0) for name in states[0]}
    models[0].load_state_dict(soup)
    out_dir = save_checkpoint(models[0], out_dir)
    sources = "\n".join(f"- `{checkpoint}`" for checkpoint in checkpoints)
    (out_dir / "MODEL_CARD.md").write_text(
        f"# Model card: TabularICL ({config.task}), a weight soup\n\n"
        f"The element-wise mean of the weights of:\n\n{sources}\n\n"
        "Their own cards say how each was trained.\n"
    )
    return out_dir


def write_model_card(
    out_dir: Path,
    title: str,
    model: torch.nn.Module,
    state: dict,
    checkpoint: Path,
    command: str,
    facts: Sequence[str] = (),
) -> None:
    """``MODEL_CARD.md`` in ``out_dir``: what trained the exported weights and on what.

    ``state`` is the Lightning checkpoint's dictionary, ``facts`` model-specific lines
    after the training ones; the architecture comes from ``out_dir / "config.json"`` and
    the training config from the run's ``config.yaml`` where the run left one.
    """
    n_params = sum(p.numel() for p in model.parameters())
    config_yaml = checkpoint.parent.parent / "config.yaml"
    init_from = state["hyper_parameters"].get("init_from")
    lines = [
        f"# Model card: {title}",
        "",
        f"- Parameters: {n_params:,}",
        f"- Optimiser steps: {state['global_step']:,}",
        f"- Training wall time: {state.get('train_seconds', 0.0) / 60:.1f} min",
        f"- Hardware: {state.get('hardware', 'not recorded')}",
        f"- Trained with: `{command or 'python -m pretraining fit --config <config>'}`",
        *(
            [f"- Started from the weights in `{init_from}` (their own card is in git history)"]
            if init_from
            else []
        ),
        *facts,
        "",
        "## Architecture",
        "",
        "```json",
        (out_dir / "config.json").read_text().strip(),
        "```",
    ]
    if config_yaml.is_file():
        lines += ["", "## Training config", "", "```yaml", config_yaml.read_text().strip(), "```"]
    (out_dir / "MODEL_CARD.md").write_text("\n".join(lines) + "\n")
