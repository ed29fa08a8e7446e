"""The LightningModule that pretrains :class:`tabicl.model.TabularICL` on prior tables."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from pretraining.base import PretrainingModule
from tabicl.checkpoint import load_checkpoint
from tabicl.model import TabularConfig, TabularICL

# Architecture switches a run may turn on over a checkpoint trained without them.
GROWABLE = ("distance_attention", "feature_relevance")


def load_grown(model: TabularICL, start: TabularICL) -> None:
    """Copy ``start``'s weights into ``model``, which may have switches of
    :data:`GROWABLE` on and more in-context blocks (appended after ``start``'s).

    Whatever is new starts where it changes nothing: a switch's weights as the model
    initialises them, and a new block with zero residual outputs, so that it passes its
    input through until training gives it something to add.
    """
    state = start.state_dict()
    n_start = start.config.n_icl_layers
    if "icl.distance_scale" in state and model.icl.distance_scale is not None:
        scale = model.icl.distance_scale.detach().clone()  # new blocks' rates start at 0
        scale[:n_start] = state["icl.distance_scale"]
        state["icl.distance_scale"] = scale
    # Strict over the union: a weight ``model`` lacks is an error, a new one keeps its init.
    model.load_state_dict({**model.state_dict(), **state})
    with torch.no_grad():
        for block in model.icl.blocks[n_start:]:
            for residual_output in (block.attn.out, block.mlp.down):
                nn.init.zeros_(residual_output.weight)
                nn.init.zeros_(residual_output.bias)


class TabularICLModule(PretrainingModule):
    """Loss around a plain :class:`TabularICL`; optimiser and schedule as the base.

    Parameters
    ----------
    config : TabularConfig
        The network; ``config.task`` must match the data module's task.
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        Applied to matrices only.
    warmup_steps : int
        Linear warm-up, then cosine decay to 10% of ``lr`` at ``trainer.max_steps``.
    schedule_seconds : float, optional
        Training seconds the run may take: the decay then follows whichever of steps or
        time runs out first, so a run on a slower machine still ends at the low rate.
    compile : bool
        Wrap the network in ``torch.compile``.
    init_from : str, optional
        Exported checkpoint directory whose weights start the run: continues
        pretraining a shipped model on a new schedule. Its config must equal
        ``config``, except that ``config`` may turn ``distance_attention`` or
        ``feature_relevance`` on and have more ``n_icl_layers``: the new weights
        start where they change nothing (:func:`load_grown`).
    """

    def __init__(
        self,
        config: TabularConfig = TabularConfig(),
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 200,
        schedule_seconds: float | None = None,
        compile: bool = False,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = TabularICL(config)
        if init_from is not None:
            start = load_checkpoint(init_from)
            turned_on = {
                name: True
                for name in GROWABLE
                if getattr(config, name) and not getattr(start.config, name)
            }
            deeper = max(config.n_icl_layers, start.config.n_icl_layers)
            if replace(start.config, **turned_on, n_icl_layers=deeper) != config:
                raise ValueError(
                    f"init_from={init_from!r} holds {start.config}, which differs from the "
                    f"configured {config}; make the config match the checkpoint's config.json"
                )
            load_grown(self.model, start)
        self.network = torch.compile(self.model) if compile else self.model
        self.tables_seen = 0

    def setup(self, stage: str) -> None:
        task = getattr(self.trainer.datamodule, "hparams", {}).get("task")
        if task is not None and task != self.model.config.task:
            raise ValueError(
                f"the data module draws {task} tasks but the model is configured for "
                f"{self.model.config.task}; set model.init_args.config.task: {task}"
            )

    def forward(self, x: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        return self.network(x, y_context)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        n_context = batch["n_context"]
        x, y = batch["x"], batch["y"]
        loss = self.model.loss(self(x, y[:, :n_context]), y[:, n_context:])
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        tables = torch.tensor(float(x.shape[0]), device=x.device)
        self.tables_seen += int(self.trainer.strategy.reduce(tables, reduce_op="sum"))
        self.log("train/tables_seen", float(self.tables_seen), batch_size=1)
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["tables_seen"] = self.tables_seen

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self.tables_seen = checkpoint.get("tables_seen", 0)
