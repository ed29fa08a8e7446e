"""Batches of synthetic tables, generated on the fly and seeded by batch index."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pretraining.priors import PriorConfig, sample_table
from tabicl.preprocessing import NORMALIZERS, make_normalizer, target_ranks


def make_batch(
    index: int,
    seed: int,
    task: str,
    prior: PriorConfig,
    min_rows: int,
    max_rows: int,
    max_features: int,
    cells_per_batch: int,
) -> dict[str, torch.Tensor | int]:
    """Batch ``index`` of the stream: B tables that share rows, features and context size.

    Every table is normalised as the estimators normalise a user's table (context rows
    fit the normaliser), and regression targets become ranks in [0, 1] of the context.
    """
    seeds = np.random.SeedSequence([seed, index])
    rng = np.random.default_rng(seeds)
    n_rows = int(np.exp(rng.uniform(np.log(min_rows), np.log(max_rows + 1))))
    n_features = int(rng.integers(1, max_features + 1))
    n_context = int(n_rows * rng.uniform(0.4, 0.9))
    n_tables = max(1, cells_per_batch // (n_rows * (n_features + 4)))
    xs, ys = [], []
    for child in seeds.spawn(n_tables):
        table = sample_table(child, n_rows, n_features, task, prior)
        normalizer = make_normalizer(NORMALIZERS[rng.integers(len(NORMALIZERS))], n_context)
        normalizer.fit(table.x[:n_context])
        xs.append(normalizer.transform(table.x))
        y = table.y
        if task == "regression":
            y = target_ranks(y[:n_context]).transform(y.reshape(-1, 1)).ravel()
        ys.append(y)
    return {
        "x": torch.from_numpy(np.stack(xs)).float(),
        "y": torch.from_numpy(np.stack(ys)).float(),
        "n_context": n_context,
    }


class PriorBatches(Dataset):
    """Map-style view of the stream: item ``i`` is batch ``i``, whoever computes it."""

    def __init__(self, length: int, **batch_args) -> None:
        self.length = length
        self.batch_args = batch_args

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        return make_batch(index, **self.batch_args)


class TablePriorDataModule(L.LightningDataModule):
    """Synthetic supervised tables for pretraining.

    Parameters
    ----------
    task : {"classification", "regression"}
    prior : PriorConfig
        Function families and feature realism.
    min_rows, max_rows : int
        Table sizes (context + query rows), drawn log-uniformly.
    max_features : int
        Features per table are drawn uniformly from 1..max_features.
    cells_per_batch : int
        Rows x (features + 4) per batch; small tables come in larger batches.
    steps_per_epoch : int
        Length of one pass; tables never repeat across epochs.
    seed : int
    num_workers : int
        Processes generating batches beside training.
    """

    def __init__(
        self,
        task: str = "classification",
        prior: PriorConfig = PriorConfig(),
        min_rows: int = 32,
        max_rows: int = 512,
        max_features: int = 20,
        cells_per_batch: int = 100_000,
        steps_per_epoch: int = 1000,
        seed: int = 0,
        num_workers: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.prior = prior

    def train_dataloader(self) -> DataLoader:
        epoch = self.trainer.current_epoch if self.trainer else 0
        batches = PriorBatches(
            self.hparams.steps_per_epoch,
            seed=self.hparams.seed + 1_000_003 * epoch,
            task=self.hparams.task,
            prior=self.prior,
            min_rows=self.hparams.min_rows,
            max_rows=self.hparams.max_rows,
            max_features=self.hparams.max_features,
            cells_per_batch=self.hparams.cells_per_batch,
        )
        return DataLoader(
            batches,
            batch_size=None,
            num_workers=self.hparams.num_workers,
            persistent_workers=False,
            prefetch_factor=4 if self.hparams.num_workers else None,
        )
