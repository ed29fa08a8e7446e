"""The tabular in-context learner: cells -> rows -> rows that read labelled rows.

Shapes: ``B`` tables, ``R`` rows (``N`` labelled context rows first, then ``M`` query
rows), ``F`` features, ``C`` cell width, ``D`` row width, ``K`` outputs (classes, or
target bins for regression).

Three stages, cheapest work where the tokens are many:

1. :class:`CellEmbedding` maps every cell to a small ``C``-vector that also knows
   which column it is in and how that column is distributed over the context rows.
2. :class:`RowEncoder` (optionally) lets a row's cells attend to each other, then
   sums their projections into one ``D``-vector per row.
3. :class:`InContextLearner` adds label embeddings to the context rows and runs a
   wide transformer over rows in which every row attends to context rows only, so
   context rows never see queries and each query's output depends on the context and
   on that query alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tabicl.blocks import MLP, Block

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class TabularConfig:
    task: Task = "classification"
    n_outputs: int = 10  # native classes, or bins of the target's rank for regression
    max_features: int = 100  # learned column identities; wider tables use subsets
    n_label_groups: int = 10  # classes, or soft bands of target rank; 0 turns them off
    d_cell: int = 32
    n_row_layers: int = 0  # attention across a row's cells: costly per cell on a CPU
    n_row_heads: int = 2
    d_model: int = 128
    n_heads: int = 4
    n_icl_layers: int = 6

    def to_dict(self) -> dict:
        return asdict(self)


def label_groups(y_context: torch.Tensor, config: TabularConfig) -> torch.Tensor:
    """(B, N, G) membership of context rows: one-hot classes, or soft bands of ranks."""
    G = config.n_label_groups
    if G == 0:
        return y_context.new_zeros(*y_context.shape, 0)
    if config.task == "classification":
        return F.one_hot(y_context.long().clamp(0, G - 1), G).float()
    centres = torch.linspace(0, 1, G, device=y_context.device, dtype=y_context.dtype)
    width = 1 / max(G - 1, 1)
    return (1 - (y_context.unsqueeze(-1) - centres).abs() / width).clamp_min(0)


class CellEmbedding(nn.Module):
    """Every cell becomes a ``C``-vector that knows how its value relates to the labels.

    Per column, the context rows give the mean and variance of the column within each
    label group (a class, or a soft band of target ranks). A cell sees its value, its
    missing flag and its squared standardised distance to every group's mean: the
    per-cell evidence of a naive Bayes model, which makes in-context learning start
    at once instead of after a long plateau. A learned column identity and a summary
    of the column over the context rows are added.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        C = config.d_cell
        self.value = nn.Sequential(
            nn.Linear(2 + config.n_label_groups, C), nn.GELU(), nn.Linear(C, C)
        )
        self.column = nn.Embedding(config.max_features, C)
        self.column_summary = nn.Linear(C, C)

    def forward(self, x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
        # x: (B, R, F); groups: (B, N, G) non-negative membership of context rows.
        B, R, F_ = x.shape
        N = groups.shape[1]
        missing = x.isnan()
        value = torch.where(missing, torch.zeros_like(x), x)
        groups = groups.to(x.dtype)
        present = (~missing[:, :N]).to(x.dtype)  # (B, N, F)
        counts = torch.einsum("bng,bnf->bfg", groups, present)  # (B, F, G)
        mean = torch.einsum("bng,bnf->bfg", groups, value[:, :N]) / counts.clamp_min(1e-6)
        square = torch.einsum("bng,bnf->bfg", groups, value[:, :N] ** 2) / counts.clamp_min(1e-6)
        variance = (square - mean**2).clamp_min(0) + 0.1
        distance = (value.unsqueeze(-1) - mean.unsqueeze(1)) ** 2 / variance.unsqueeze(1)
        distance = distance * (counts > 0).unsqueeze(1) * (~missing).unsqueeze(-1)  # (B, R, F, G)
        inputs = torch.cat([value.unsqueeze(-1), missing.unsqueeze(-1).to(x.dtype), distance], -1)
        cells = self.value(inputs) + self.column.weight[:F_]  # (B, R, F, C)
        summary = cells[:, :N].mean(dim=1, keepdim=True)  # (B, 1, F, C), context rows only
        return cells + self.column_summary(summary)


class RowEncoder(nn.Module):
    """Optional narrow attention across each row's cells, then a sum over the cells.

    The sum of per-cell projections generalises TabPFN v1's linear row encoder to
    any number of columns; ``n_row_layers`` blocks before it let cells interact.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        C = config.d_cell
        self.blocks = nn.ModuleList(
            Block(C, config.n_row_heads) for _ in range(config.n_row_layers)
        )
        self.project = nn.Linear(C, config.d_model)
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        B, R, F_, C = cells.shape
        if self.blocks:
            tokens = cells.flatten(0, 1)  # (B*R, F, C)
            for block in self.blocks:
                tokens = block(tokens)
            cells = tokens.unflatten(0, (B, R))
        return self.norm(self.project(cells).sum(dim=2))  # (B, R, D)


class LabelEmbedding(nn.Module):
    """Class ids through a lookup table; target ranks in [0, 1] through an MLP."""

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        D = config.d_model
        self.task = config.task
        if config.task == "classification":
            self.embed = nn.Embedding(config.n_outputs, D)
        else:
            self.embed = nn.Sequential(nn.Linear(1, D), nn.GELU(), nn.Linear(D, D))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return self.embed(y.long())
        return self.embed(y.unsqueeze(-1).to(self.embed[0].weight.dtype))


class InContextLearner(nn.Module):
    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        D = config.d_model
        self.label = LabelEmbedding(config)
        self.blocks = nn.ModuleList(Block(D, config.n_heads) for _ in range(config.n_icl_layers))
        self.norm = nn.LayerNorm(D)
        self.head = nn.Sequential(MLP(D, expansion=2), nn.GELU(), nn.Linear(D, config.n_outputs))

    def forward(self, rows: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        N = y_context.shape[1]
        h = torch.cat([rows[:, :N] + self.label(y_context), rows[:, N:]], dim=1)
        for block in self.blocks:
            h = block(h, n_keys=N)  # every row reads the N context rows only
        return self.head(self.norm(h[:, N:]))  # (B, M, K)


class TabularICL(nn.Module):
    """Maps a labelled context table and a query table to per-query output logits.

    Parameters
    ----------
    config : TabularConfig
        Architecture and task.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        self.config = config
        self.cells = CellEmbedding(config)
        self.rows = RowEncoder(config)
        self.icl = InContextLearner(config)

    def forward(self, x: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        """Logits for the query rows.

        Parameters
        ----------
        x : Tensor of shape (B, N + M, F)
            Preprocessed features, context rows first; NaN marks a missing value.
        y_context : Tensor of shape (B, N)
            Class ids (classification) or target ranks in [0, 1] (regression).

        Returns
        -------
        Tensor of shape (B, M, K)
        """
        if x.shape[-1] > self.config.max_features:
            raise ValueError(
                f"x has {x.shape[-1]} features; this model reads at most "
                f"{self.config.max_features}: pass a subset of the columns"
            )
        groups = label_groups(y_context, self.config)
        return self.icl(self.rows(self.cells(x, groups)), y_context)

    def loss(self, logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class ids, or against the bin of each target rank."""
        return F.cross_entropy(logits.flatten(0, 1), self.target_ids(y_query).flatten())

    def target_ids(self, y: torch.Tensor) -> torch.Tensor:
        if self.config.task == "classification":
            return y.long()
        K = self.config.n_outputs
        return (y * K).long().clamp(0, K - 1)
