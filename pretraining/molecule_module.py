"""Lightning module and data module that pretrain the demonstration-conditioned generator.

``python -m pretraining fit --config pretraining/configs/molecules-tiny.yaml``: each
batch holds contexts drawn on the fly from :mod:`pretraining.molecule_tasks`, and the
network learns every molecule of a context given its score and the molecules before it
(or, with ``config.objective: masked_diffusion``, denoises some molecules of each
context given the others).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from molecules.checkpoint import load_generator
from molecules.chem import read_smiles
from molecules.config import GeneratorConfig
from molecules.context import IGNORE, TokenIndex, make_context, normalise_scores
from molecules.model import DemonstrationTransformer, masked_token_loss, next_token_loss
from molecules.motifs import MotifVocabulary
from molecules.tokenizer import MotifTokenizer, bundled_tokens, bundled_vocabulary
from pretraining.base import PretrainingModule
from pretraining.molecule_tasks import MoleculeCorpus, build_corpus, sample_task

# Molecules of a context that masked diffusion noises: the others are its demonstrations.
NOISED_SHARE = 0.25


class MoleculeGeneratorModule(PretrainingModule):
    """Next-token or masked-diffusion loss around the generator (``config.objective``);
    optimiser and schedule as the base.

    Parameters
    ----------
    config : GeneratorConfig
        The network; ``n_tokens`` is taken from the token list.
    lr : float
        Peak learning rate.
    weight_decay : float
        Applied to matrices only.
    warmup_steps : int
        Linear warm-up, then cosine decay to 10% of ``lr`` at ``trainer.max_steps``.
    schedule_seconds : float, optional
        Wall time the run may take: the decay follows steps or time, whichever runs out
        first, so that a run stopped by ``max_time`` ends at the low rate.
    init_from : str, optional
        Generator checkpoint directory whose weights start the run (its config and
        tokens must be this run's): continues pretraining a shipped generator on a new
        schedule.
    """

    def __init__(
        self,
        config: GeneratorConfig = GeneratorConfig(),
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        schedule_seconds: float | None = None,
        init_from: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.index = TokenIndex.load(bundled_tokens())
        self.vocabulary = MotifVocabulary.load(bundled_vocabulary())
        n_tokens = len(self.index) + config.extra_tokens
        self.model = DemonstrationTransformer(replace(config, n_tokens=n_tokens))
        self.loss = masked_token_loss if config.objective == "masked_diffusion" else next_token_loss
        if init_from is not None:
            start = load_generator(init_from)
            if start.model.config != self.model.config or start.index.tokens != self.index.tokens:
                raise ValueError(
                    f"init_from={init_from!r} holds {start.model.config} over its own token "
                    f"list; this run is {self.model.config} over the bundled tokens: make "
                    "the config match the checkpoint's config.json"
                )
            self.model.load_state_dict(start.model.state_dict())

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self.model, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["tokens"].shape[0])
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        # The vocabulary the network was trained over, for the export.
        checkpoint["motif_tokens"] = self.index.tokens
        checkpoint["motif_merges"] = self.vocabulary.merges
        checkpoint["motif_max_atoms"] = self.vocabulary.max_atoms


def make_molecule_batch(
    index: int,
    seed: int,
    corpus: MoleculeCorpus,
    min_context: int,
    max_context: int,
    tokens_per_batch: int,
) -> dict[str, torch.Tensor]:
    """Batch ``index`` of the stream: contexts of one task each, scores z-normalised.

    Each context also carries the draws of masked diffusion (:func:`draw_noise`), from a
    generator of their own: the tasks are the same for either objective.
    """
    rng = np.random.default_rng([seed, index])
    noise_rng = np.random.default_rng([seed, index, 1])
    contexts, n_tokens = [], 0
    while n_tokens < tokens_per_batch:
        n_molecules = int(rng.integers(min_context, max_context + 1))
        pool, scores, _ = sample_task(rng, corpus, n_molecules)
        context = make_context([corpus.ids(i) for i in pool], normalise_scores(scores))
        contexts.append({**context, **draw_noise(context["positions"], noise_rng)})
        n_tokens += len(context["tokens"])
    return collate(contexts)


def draw_noise(
    positions: np.ndarray, rng: np.random.Generator, share: float = NOISED_SHARE
) -> dict[str, np.ndarray]:
    """Which molecules of a context masked diffusion noises, and how much.

    About ``share`` of the molecules (at least one) get a mask rate ``t`` drawn from
    U(0.1, 1) on all their tokens (0 elsewhere: ``mask_rate``); a token is masked where
    its ``uniform`` draw falls below its rate (:func:`molecules.model.masked_token_loss`).
    """
    molecule = np.cumsum(positions == 0) - 1  # (T,)
    n_molecules = molecule[-1] + 1
    noised = rng.random(n_molecules) < share
    noised[rng.integers(n_molecules)] = True
    rate = np.where(noised, rng.uniform(0.1, 1.0, n_molecules), 0.0)
    return {
        "mask_rate": rate[molecule].astype(np.float32),
        "uniform": rng.random(len(positions)).astype(np.float32),
    }


def collate(contexts: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Right-pad contexts to the longest; causal attention keeps padding out of sight, and
    so does masked diffusion (padding is ``<pad>``, in no molecule)."""
    batch = {}
    fills = {"tokens": 0, "positions": 0, "scores": 0.0, "target": IGNORE}
    for key, fill in {**fills, "mask_rate": 0.0, "uniform": 1.0}.items():
        batch[key] = torch.nn.utils.rnn.pad_sequence(
            [torch.as_tensor(c[key]) for c in contexts], batch_first=True, padding_value=fill
        )
    return batch


class _TaskStream(IterableDataset):
    def __init__(self, start: int, **batch_args) -> None:
        self.start, self.batch_args = start, batch_args

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for step in itertools.count(self.start):
            yield make_molecule_batch(step, **self.batch_args)


class MoleculeTaskDataModule(L.LightningDataModule):
    """Endless batches of context tasks drawn from a molecule corpus.

    Parameters
    ----------
    corpus : str
        SMILES file (``.smi`` or ``.csv`` with a ``smiles`` column, gzipped or not).
    n_molecules : int
        Molecules taken at random from it (tokenising and scoring cost ~10 ms each).
    cache : str
        ``.npz`` file where the tokenised and scored corpus is kept between runs.
    min_context, max_context : int
        Molecules per context, drawn uniformly.
    tokens_per_batch : int
        Contexts are added to a batch until it holds this many tokens.
    max_tokens : int
        Molecules with more motif tokens are left out.
    seed : int
        Picks the corpus sample and, with the step, each batch.
    """

    def __init__(
        self,
        corpus: str = "../shared/molecules/zinc250k.smi.gz",
        n_molecules: int = 20000,
        cache: str = "runs/molecule-corpus.npz",
        min_context: int = 8,
        max_context: int = 48,
        tokens_per_batch: int = 4096,
        max_tokens: int = 40,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not Path(corpus).is_file():
            raise FileNotFoundError(
                f"corpus={corpus!r} is not a file: point it at a SMILES file such as "
                "../shared/molecules/zinc250k.smi.gz"
            )

    def prepare_data(self) -> None:
        cache = Path(self.hparams.cache)
        if cache.is_file():
            return
        smiles = read_smiles(self.hparams.corpus)
        rng = np.random.default_rng(self.hparams.seed)
        picked = rng.choice(len(smiles), min(self.hparams.n_molecules, len(smiles)), False)
        tokenizer = MotifTokenizer(MotifVocabulary.load(bundled_vocabulary()))
        corpus = build_corpus(
            [smiles[i] for i in picked],
            tokenizer,
            TokenIndex.load(bundled_tokens()),
            self.hparams.max_tokens,
        )
        cache.parent.mkdir(parents=True, exist_ok=True)
        corpus.save(cache)

    def setup(self, stage: str) -> None:
        self.corpus = MoleculeCorpus.load(self.hparams.cache)

    def train_dataloader(self) -> DataLoader:
        # One endless epoch from the current step, so a resumed run continues the stream.
        start = self.trainer.global_step if self.trainer else 0
        stream = _TaskStream(
            start,
            seed=self.hparams.seed,
            corpus=self.corpus,
            min_context=self.hparams.min_context,
            max_context=self.hparams.max_context,
            tokens_per_batch=self.hparams.tokens_per_batch,
        )
        return DataLoader(stream, batch_size=None, num_workers=0)
