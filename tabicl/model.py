"""The tabular in-context learner: cells -> rows -> rows that read labelled rows.

Shapes: ``B`` tables, ``R`` rows (``N`` labelled context rows first, then ``M`` query
rows), ``F`` features, ``C`` cell width, ``D`` row width, ``K`` outputs (classes, or
target bins for regression).

Three stages, cheapest work where the tokens are many:

1. :class:`CellEmbedding` maps every cell to a small ``C``-vector that also knows
   which column it is in and how that column is distributed over the context rows
   (and, optionally, weighs it by how much the context's labels depend on its column).
2. :class:`RowEncoder` (optionally) lets a row's cells attend to each other, then
   sums their projections into one ``D``-vector per row.
3. :class:`InContextLearner` adds label embeddings to the context rows and runs a
   wide transformer over rows in which every row attends to context rows only, so
   context rows never see queries and each query's output depends on the context and
   on that query alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tabicl.blocks import MLP, Block
from tabicl.config import TabularConfig
from tabicl.fine_tuning import Episode, fine_tune

DISTANCE_GAIN = 10.0


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


class ColumnContext(NamedTuple):
    """What a query cell reads from the context rows of its column."""

    mean: torch.Tensor  # (B, F, G) of each label group
    inverse_variance: torch.Tensor  # (B, F, G), zero for a group with no value
    summary: torch.Tensor  # (B, 1, F, C) projected mean of the context's cells
    relevance: torch.Tensor  # (B, F) each feature's weight, mean 1 (all 1 when not learned)


class Context(NamedTuple):
    """Everything queries read from an encoded context; it depends on the context only."""

    columns: ColumnContext
    keys_values: torch.Tensor  # (L, 2, B, H, N, D/H) of every in-context block
    points: torch.Tensor | None = None  # (B, N, F) context features, for distance attention


def squared_distances(
    x: torch.Tensor, points: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, T, S): mean squared difference of rows ``x`` (B, T, F) and ``points`` (B, S, F)
    over the features both have (NaN marks a missing one); 0 when they share none.

    ``weights`` (B, F), positive, make it a weighted mean over the shared features.
    """
    x_present, points_present = ((~a.isnan()).to(x.dtype) for a in (x, points))
    x, points = (torch.where(a.isnan(), torch.zeros_like(a), a) for a in (x, points))
    weights = torch.ones_like(x[:, :1]) if weights is None else weights[:, None]  # (B, 1, F)
    shared = (weights * x_present) @ points_present.mT
    total = (weights * x**2) @ points_present.mT + (weights * x_present) @ (points**2).mT
    total = total - 2 * (weights * x) @ points.mT
    return (total / shared.clamp_min(1e-6)).clamp_min(0)


class CellEmbedding(nn.Module):
    """Every cell becomes a ``C``-vector that knows how its value relates to the labels.

    Per column, the context rows give the mean and variance of the column within each
    label group (a class, or a soft band of target ranks). A cell sees its value, its
    missing flag and its squared standardised distance to every group's mean: the
    per-cell evidence of a naive Bayes model, which makes in-context learning start
    at once instead of after a long plateau. A learned column identity and a summary
    of the column over the context rows are added. With ``feature_relevance``, every
    cell is then scaled by its column's learned relevance to the labels: attention
    weighs features the same for every table, so a table whose target depends on two
    of thirty columns needs the context to say which two.

    :meth:`context` returns, beside the context's cells, the :class:`ColumnContext` that
    :meth:`queries` reads: everything a query cell needs from the context.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        C = config.d_cell
        self.value = nn.Sequential(
            nn.Linear(2 + config.n_label_groups, C), nn.GELU(), nn.Linear(C, C)
        )
        self.column = nn.Embedding(config.max_features, C)
        self.column_summary = nn.Linear(C, C)
        self.relevance = None
        if config.feature_relevance:
            # Reads a column's summary and its correlation ratio with the label groups.
            self.relevance = nn.Sequential(nn.Linear(C + 1, C), nn.GELU(), nn.Linear(C, 1))
            # Zero at first: every feature weighs 1, as in a network trained without it.
            nn.init.zeros_(self.relevance[-1].weight)
            nn.init.zeros_(self.relevance[-1].bias)

    def context(
        self, x_context: torch.Tensor, groups: torch.Tensor
    ) -> tuple[torch.Tensor, ColumnContext]:
        # x_context: (B, N, F); groups: (B, N, G) non-negative membership of context rows.
        missing = x_context.isnan()
        value = torch.where(missing, torch.zeros_like(x_context), x_context)
        groups = groups.to(x_context.dtype)
        present = (~missing).to(x_context.dtype)
        counts = torch.einsum("bng,bnf->bfg", groups, present)  # (B, F, G)
        mean = torch.einsum("bng,bnf->bfg", groups, value) / counts.clamp_min(1e-6)
        square = torch.einsum("bng,bnf->bfg", groups, value**2) / counts.clamp_min(1e-6)
        variance = (square - mean**2).clamp_min(0) + 0.1
        # A group with no value in a column gives no evidence: its distances are zero.
        inverse_variance = (counts > 0).to(x_context.dtype) / variance
        cells = self._cells(x_context, mean, inverse_variance)  # (B, N, F, C)
        summary = self.column_summary(cells.mean(dim=1, keepdim=True))  # (B, 1, F, C)
        relevance = self._relevance(summary, counts, mean, square - mean**2)
        columns = ColumnContext(mean, inverse_variance, summary, relevance)
        return (cells + summary) * relevance[:, None, :, None], columns

    def queries(self, x_query: torch.Tensor, columns: ColumnContext) -> torch.Tensor:
        cells = self._cells(x_query, columns.mean, columns.inverse_variance)
        return (cells + columns.summary) * columns.relevance[:, None, :, None]  # (B, M, F, C)

    def _relevance(
        self,
        summary: torch.Tensor,
        counts: torch.Tensor,
        mean: torch.Tensor,
        variance: torch.Tensor,
    ) -> torch.Tensor:
        """(B, F) feature weights of mean 1, from each column's share of variance that
        the label groups explain (its correlation ratio) and its summary."""
        if self.relevance is None:
            return summary.new_ones(summary.shape[0], summary.shape[2])
        share = counts / counts.sum(-1, keepdim=True).clamp_min(1e-6)  # (B, F, G)
        grand_mean = (share * mean).sum(-1, keepdim=True)
        between = (share * (mean - grand_mean) ** 2).sum(-1)
        within = (share * variance.clamp_min(0)).sum(-1)
        ratio = between / (between + within + 1e-6)  # (B, F)
        inputs = torch.cat([summary[:, 0], ratio.unsqueeze(-1)], dim=-1)  # (B, F, C + 1)
        # sigmoid(z) / mean(sigmoid(z)) in log space: a table whose every sigmoid
        # underflows to 0 (one column with extreme values did) gets no 0 / 0.
        log_weights = F.logsigmoid(self.relevance(inputs).squeeze(-1))
        return log_weights.shape[-1] * torch.softmax(log_weights, dim=-1)

    def _cells(
        self, x: torch.Tensor, mean: torch.Tensor, inverse_variance: torch.Tensor
    ) -> torch.Tensor:
        missing = x.isnan()
        value = torch.where(missing, torch.zeros_like(x), x)
        distance = (value.unsqueeze(-1) - mean.unsqueeze(1)) ** 2  # (B, R, F, G)
        distance = distance * inverse_variance.unsqueeze(1) * (~missing).unsqueeze(-1)
        inputs = torch.cat([value.unsqueeze(-1), missing.unsqueeze(-1).to(x.dtype), distance], -1)
        return self.value(inputs) + self.column.weight[: x.shape[-1]]  # (B, R, F, C)


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
    """Blocks over row tokens in which every row reads the context rows only.

    :meth:`context` runs the context rows and returns every block's keys and values;
    :meth:`queries` runs query rows that read them. The context never sees a query, so
    encoding it once and reading it for many queries is exact.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        D, L = config.d_model, config.n_icl_layers
        self.label = LabelEmbedding(config)
        self.blocks = nn.ModuleList(Block(D, config.n_heads) for _ in range(L))
        self.norm = nn.LayerNorm(D)
        self.head = nn.Sequential(MLP(D, expansion=2), nn.GELU(), nn.Linear(D, config.n_outputs))
        # Zero at first, so that a network trained without it starts where it was.
        self.distance_scale = (
            nn.Parameter(torch.zeros(L, config.n_heads)) if config.distance_attention else None
        )

    def context(
        self, rows: torch.Tensor, y_context: torch.Tensor, distances: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(L, 2, B, H, N, D/H): each block's keys and values of the context ``rows``.

        ``distances`` (B, N, N) between the context rows feed distance attention.
        """
        h = rows + self.label(y_context)  # (B, N, D)
        keys_values = []
        for i, block in enumerate(self.blocks):
            keys, values = block.attn.keys_values(block.norm_attn(h))
            keys_values.append(torch.stack([keys, values]))
            if i + 1 < len(self.blocks):  # the last block's context outputs are never read
                h = block.read(h, keys, values, bias=self._distance_bias(i, distances))
        return torch.stack(keys_values)

    def queries(
        self, rows: torch.Tensor, keys_values: torch.Tensor, distances: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits (B, M, K) of query ``rows`` (B, M, D), ``distances`` (B, M, N) from the
        context rows."""
        h = rows
        for i, (block, (keys, values)) in enumerate(zip(self.blocks, keys_values, strict=True)):
            h = block.read(h, keys, values, bias=self._distance_bias(i, distances))
        return self.head(self.norm(h))

    def _distance_bias(self, layer: int, distances: torch.Tensor | None) -> torch.Tensor | None:
        """(B, H, T, N): each head's logits fall with distance at its own learned rate.

        The gain lets the rate reach kernel-like sharpness in a few thousand steps.
        """
        if self.distance_scale is None:
            return None
        return -DISTANCE_GAIN * self.distance_scale[layer, :, None, None] * distances.unsqueeze(1)


class TabularICL(nn.Module):
    """Maps a labelled context table and a query table to per-query output logits.

    ``forward`` is :meth:`encode_context` followed by :meth:`predict_queries`; calling
    them apart encodes a context once for any number of query batches.

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
        N = y_context.shape[1]
        return self.predict_queries(self.encode_context(x[:, :N], y_context), x[:, N:])

    def encode_context(self, x_context: torch.Tensor, y_context: torch.Tensor) -> Context:
        """Encode the labelled rows ``x_context`` (B, N, F) with ``y_context`` (B, N)."""
        if x_context.shape[-1] > self.config.max_features:
            raise ValueError(
                f"x has {x_context.shape[-1]} features; this model reads at most "
                f"{self.config.max_features}: pass a subset of the columns"
            )
        cells, columns = self.cells.context(x_context, label_groups(y_context, self.config))
        if not self.config.distance_attention:
            return Context(columns, self.icl.context(self.rows(cells), y_context))
        distances = squared_distances(x_context, x_context, columns.relevance)
        keys_values = self.icl.context(self.rows(cells), y_context, distances)
        return Context(columns, keys_values, x_context)

    def predict_queries(self, context: Context, x_query: torch.Tensor) -> torch.Tensor:
        """Logits (B, M, K) of the rows ``x_query`` (B, M, F) given an encoded context."""
        rows = self.rows(self.cells.queries(x_query, context.columns))
        distances = None
        if self.config.distance_attention:
            distances = squared_distances(x_query, context.points, context.columns.relevance)
        return self.icl.queries(rows, context.keys_values, distances)

    def loss(self, logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class ids, or against the bin of each target rank."""
        return F.cross_entropy(logits.flatten(0, 1), self.target_ids(y_query).flatten())

    def target_ids(self, y: torch.Tensor) -> torch.Tensor:
        if self.config.task == "classification":
            return y.long()
        K = self.config.n_outputs
        return (y * K).long().clamp(0, K - 1)


class TorchNetwork:
    """A :class:`TabularICL` behind numpy inputs and outputs, as the estimators call it.

    Parameters
    ----------
    model : TabularICL
    device : torch.device
    """

    def __init__(self, model: TabularICL, device: torch.device) -> None:
        self.model = model.to(device)
        self.device = device
        self.config = model.config

    def fine_tuned(
        self,
        draw_episode: Callable[[np.random.Generator], Episode],
        steps: int,
        learning_rate: float,
        seed: int,
    ) -> TorchNetwork:
        """A copy of this network fine-tuned on episodes (see :func:`fine_tune`)."""
        tuned = fine_tune(self.model, draw_episode, steps, learning_rate, seed)
        return TorchNetwork(tuned, self.device)

    @torch.no_grad()
    def encode_context(self, x_context: np.ndarray, y_context: np.ndarray) -> Context:
        """The encoded context of one table: ``x_context`` (N, F), ``y_context`` (N,)."""
        x, y = (torch.as_tensor(a, dtype=torch.float32, device=self.device)[None] for a in
                (x_context, y_context))  # fmt: skip
        return self.model.encode_context(x, y)

    @torch.no_grad()
    def predict_logits(self, context: Context, x_query: np.ndarray) -> np.ndarray:
        """Logits (M, K) of the rows ``x_query`` (M, F) given an encoded context."""
        x = torch.as_tensor(x_query, dtype=torch.float32, device=self.device)[None]
        return self.model.predict_queries(context, x)[0].float().cpu().numpy()
