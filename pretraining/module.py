"""The LightningModule that pretrains :class:`tabicl.model.TabularICL` on prior tables."""

from __future__ import annotations

import math
import os
import platform
import time

import lightning as L
import torch

from tabicl.checkpoint import load_checkpoint
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
    schedule_seconds : float, optional
        Training seconds the run may take: the decay then follows whichever of steps or
        time runs out first, so a run on a slower machine still ends at the low rate.
    compile : bool
        Wrap the network in ``torch.compile``.
    init_from : str, optional
        Exported checkpoint directory whose weights start the run (its config must
        equal ``config``): continues pretraining a shipped model on a new schedule.
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
            if start.config != config:
                raise ValueError(
                    f"init_from={init_from!r} holds {start.config}, which differs from the "
                    f"configured {config}; make the config match the checkpoint's config.json"
                )
            self.model.load_state_dict(start.state_dict())
        self.network = torch.compile(self.model) if compile else self.model
        self.train_seconds = 0.0
        self.tables_seen = 0
        self._since = time.monotonic()

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

        seconds = self.hparams.schedule_seconds

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / (total - warmup)
            if seconds:
                progress = max(progress, self.elapsed_seconds() / seconds)
            progress = min(1.0, progress)
            return 0.1 + 0.45 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def elapsed_seconds(self) -> float:
        """Training wall time so far, across resumptions."""
        return self.train_seconds + time.monotonic() - self._since

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = self.elapsed_seconds()
        self._since = time.monotonic()
        checkpoint["train_seconds"] = self.train_seconds
        checkpoint["tables_seen"] = self.tables_seen
        checkpoint["hardware"] = describe_hardware()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = checkpoint.get("train_seconds", 0.0)
        self.tables_seen = checkpoint.get("tables_seen", 0)
        self._since = time.monotonic()
