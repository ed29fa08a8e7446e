"""Batches of synthetic tables, generated on the fly and seeded by batch index."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pretraining.priors import PriorConfig, sample_table
from pretraining.realtables import load_real_tables, sample_real_task
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
    real_tables: str | None = None,
    p_real: float = 0.0,
    curriculum_batches: int = 0,
) -> dict[str, torch.Tensor | int]:
    """Batch ``index`` of the stream: B tables that share rows, features and context size.

    With ``curriculum_batches``, the largest table grows linearly from ``4 * min_rows``
    rows at batch 0 to ``max_rows`` at that batch: short tables are cheap and teach the
    basics; long contexts come once there is something to refine.

    A share ``p_real`` of the tables is cut from the real tables under ``real_tables``
    (when one fits the batch's size), the rest drawn from the synthetic ``prior``. Every
    table is normalised as the estimators normalise a user's table (context rows
    fit the normaliser), and regression targets become ranks in [0, 1] of the context.
    """
    seeds = np.random.SeedSequence([seed, index])
    rng = np.random.default_rng(seeds)
    if curriculum_batches:
        start = min(4 * min_rows, max_rows)
        max_rows = int(start + (max_rows - start) * min(1.0, index / curriculum_batches))
    n_rows = int(np.exp(rng.uniform(np.log(min_rows), np.log(max_rows + 1))))
    n_features = int(rng.integers(1, max_features + 1))
    n_context = int(n_rows * rng.uniform(0.4, 0.9))
    n_tables = max(1, cells_per_batch // (n_rows * (n_features + 4)))
    xs, ys = [], []
    real = load_real_tables(real_tables) if real_tables and p_real > 0 else ()
    for child in seeds.spawn(n_tables):
        table = None
        if real and rng.random() < p_real:
            table = sample_real_task(
                np.random.default_rng(child), real, n_rows, n_features, task, prior.max_classes
            )
        if table is None:
            table = sample_table(child, n_rows, n_features, task, prior)
        normalizer = make_normalizer(NORMALIZERS[rng.integers(len(NORMALIZERS))], n_context)
        with warnings.catch_warnings():  # a column may be all missing in the context
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
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


class PriorStream(IterableDataset):
    """The endless stream of batches, from optimiser step ``start`` on.

    Optimiser step ``s`` of process ``rank`` (of ``world_size``) always sees batch
    ``s * world_size + rank``, however many loader workers share the work (the loader
    takes their batches round-robin) and whether training started fresh or resumed.
    """

    def __init__(self, start: int, rank: int = 0, world_size: int = 1, **batch_args) -> None:
        self.start = start
        self.rank = rank
        self.world_size = world_size
        self.batch_args = batch_args

    def __iter__(self) -> Iterator[dict[str, torch.Tensor | int]]:
        worker = get_worker_info()
        worker_id, n_workers = (worker.id, worker.num_workers) if worker else (0, 1)
        for step in itertools.count(self.start + worker_id, n_workers):
            yield make_batch(step * self.world_size + self.rank, **self.batch_args)


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
    real_tables : str, optional
        Folder of parquet tables for self-supervised tasks (a random column is the target).
    p_real : float
        Share of tables cut from ``real_tables``.
    curriculum_batches : int
        Batches of the stream over which the largest table grows to ``max_rows``
        (0: no curriculum). The stream index counts every process's batches.
    seed : int
        Batch ``s`` of the stream is drawn from ``(seed, s)``.
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
        real_tables: str | None = None,
        p_real: float = 0.0,
        curriculum_batches: int = 0,
        seed: int = 0,
        num_workers: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.prior = prior
        if real_tables and p_real > 0 and not Path(real_tables).is_dir():
            raise FileNotFoundError(
                f"real_tables={real_tables!r} is not a folder: point it at the parquet "
                "tables (e.g. ../shared/realtables) or set p_real: 0"
            )

    def train_dataloader(self) -> DataLoader:
        # One endless epoch from the current optimiser step (already restored when
        # resuming), so a resumed run continues the stream; max_steps ends it.
        start = self.trainer.global_step if self.trainer else 0
        batches = PriorStream(
            start,
            rank=self.trainer.global_rank if self.trainer else 0,
            world_size=self.trainer.world_size if self.trainer else 1,
            seed=self.hparams.seed,
            task=self.hparams.task,
            prior=self.prior,
            min_rows=self.hparams.min_rows,
            max_rows=self.hparams.max_rows,
            max_features=self.hparams.max_features,
            cells_per_batch=self.hparams.cells_per_batch,
            real_tables=self.hparams.real_tables,
            p_real=self.hparams.p_real,
            curriculum_batches=self.hparams.curriculum_batches,
        )
        return DataLoader(
            batches,
            batch_size=None,
            num_workers=self.hparams.num_workers,
            persistent_workers=False,
            prefetch_factor=4 if self.hparams.num_workers else None,
        )
