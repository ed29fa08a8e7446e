"""The LightningModule that pretrains :class:`tabicl.model.TabularICL` on prior tables."""

from __future__ import annotations

import math
import os
import platform
import time

import lightning as L
import torch

from tabicl.model import TabularConfig, TabularICL


def describe_hardware() -> str:
    """The machine this process trains on, for the model card."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name()}"
    return (
        f"CPU only: {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads"
    )


class TabularICLModule(L.LightningModule):
    """Loss, optimiser and schedule around a plain :class:`TabularICL`.

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
    compile : bool
        Wrap the network in ``torch.compile``.
    """

    def __init__(
        self,
        config: TabularConfig = TabularConfig(),
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 200,
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = TabularICL(config)
        self.network = torch.compile(self.model) if compile else self.model
        self.train_seconds = 0.0
        self._since = time.monotonic()

    def forward(self, x: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        return self.network(x, y_context)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        n_context = batch["n_context"]
        x, y = batch["x"], batch["y"]
        loss = self.model.loss(self(x, y[:, :n_context]), y[:, n_context:])
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        self.log("train/tables", float(x.shape[0]), reduce_fx="sum", batch_size=1)
        return loss

    def configure_optimizers(self):
        decay = [p for p in self.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.hparams.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.hparams.lr,
        )
        total = max(self.trainer.max_steps, self.hparams.warmup_steps + 1)
        warmup = self.hparams.warmup_steps

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min(1.0, (step - warmup) / (total - warmup))
            return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        now = time.monotonic()
        self.train_seconds += now - self._since
        self._since = now
        checkpoint["train_seconds"] = self.train_seconds
        checkpoint["hardware"] = describe_hardware()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = checkpoint.get("train_seconds", 0.0)
        self._since = time.monotonic()
