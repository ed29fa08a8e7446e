"""What every pretraining module shares: AdamW, a warm-up + cosine schedule that follows
time as well as steps, and the training time and hardware kept in each checkpoint."""

from __future__ import annotations

import math
import os
import platform
import time

import lightning as L
import torch


def describe_hardware() -> str:
    """The machine this process trains on, for the model card."""
    if torch.cuda.is_available():
        return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name()}"
    return (
        f"CPU only: {platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} torch threads"
    )


class PretrainingModule(L.LightningModule):
    """Base of the pretraining modules; subclasses save ``lr``, ``weight_decay``,
    ``warmup_steps`` and ``schedule_seconds`` with ``save_hyperparameters``.

    The learning rate warms up linearly for ``warmup_steps``, then decays along a
    cosine to 10% of ``lr`` at ``trainer.max_steps`` or after ``schedule_seconds`` of
    training, whichever comes first, so that a run stopped by ``max_time`` on a slower
    or busier machine still ends at the low rate. Weight decay applies to matrices only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.train_seconds = 0.0
        self._since = time.monotonic()

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
        warmup = self.hparams.warmup_steps
        total = max(self.trainer.max_steps, warmup + 1)
        seconds = self.hparams.schedule_seconds

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / (total - warmup)
            if seconds:
                progress = max(progress, self.elapsed_seconds() / seconds)
            return 0.1 + 0.45 * (1 + math.cos(math.pi * min(1.0, progress)))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return [optimizer], [{"scheduler": scheduler, "interval": "step"}]

    def elapsed_seconds(self) -> float:
        """Training wall time so far, across resumptions."""
        return self.train_seconds + time.monotonic() - self._since

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = self.elapsed_seconds()
        self._since = time.monotonic()
        checkpoint["train_seconds"] = self.train_seconds
        checkpoint["hardware"] = describe_hardware()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.train_seconds = checkpoint.get("train_seconds", 0.0)
        self._since = time.monotonic()
