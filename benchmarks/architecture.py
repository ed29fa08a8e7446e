"""Row-level ICL (ours) against a per-cell model in the style of TabPFN v2, per unit of compute.

Both models train for the same wall-clock budget with AdamW on the same stream of prior
batches, then are scored on fixed held-out prior batches. Only the optimiser work
(forward, backward, step) counts against the budget: both read the same batches, so
generating them would only add the same cost to each.

``python -m benchmarks.architecture --seconds 300 --out benchmarks/results/architecture.json``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pretraining.data import make_batch
from pretraining.priors import PriorConfig
from tabicl.blocks import Block
from tabicl.model import CellEmbedding, LabelEmbedding, TabularConfig, TabularICL, label_groups

STREAM = dict(
    task="classification", min_rows=32, max_rows=256, max_features=10, cells_per_batch=20000
)
TRAIN_SEED, EVAL_SEED, EVAL_FIRST, N_EVAL = 0, 1, 10**6, 20


class PerCellICL(nn.Module):
    """Every cell is a token; layers alternate attention along a row and down a column.

    Reads ``d_cell == d_model`` as the token width ``d``, ``n_heads`` and ``n_icl_layers``
    (each layer is two blocks) from ``config``. Labels enter as an extra column whose
    query cells hold a learned 'unknown label' vector; logits are read from it.

    Parameters
    ----------
    config : TabularConfig
        Classification config with ``d_cell == d_model``.
    """

    def __init__(self, config: TabularConfig) -> None:
        super().__init__()
        if config.d_cell != config.d_model:
            raise ValueError("PerCellICL needs d_cell == d_model (one token width)")
        d = config.d_model
        self.cells = CellEmbedding(config)
        self.config = config
        self.label = LabelEmbedding(config)
        self.unknown = nn.Parameter(torch.zeros(d))
        L = config.n_icl_layers
        self.feature_blocks = nn.ModuleList(Block(d, config.n_heads) for _ in range(L))
        self.row_blocks = nn.ModuleList(Block(d, config.n_heads) for _ in range(L))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_outputs)

    def forward(self, x: torch.Tensor, y_context: torch.Tensor) -> torch.Tensor:
        """Logits (B, M, K) for the query rows of x (B, N + M, F), as :class:`TabularICL`."""
        B, R, _ = x.shape
        N = y_context.shape[1]
        labels = torch.cat(
            [self.label(y_context), self.unknown.expand(B, R - N, -1)], dim=1
        )  # (B, R, d)
        cells = self.cells(x, label_groups(y_context, self.config))
        h = torch.cat([cells, labels.unsqueeze(2)], dim=2)  # (B, R, F+1, d)
        T = h.shape[2]
        for along_row, along_column in zip(self.feature_blocks, self.row_blocks, strict=True):
            h = along_row(h.flatten(0, 1)).unflatten(0, (B, R))
            h = along_column(h.transpose(1, 2).flatten(0, 1), n_keys=N)  # rows read context
            h = h.unflatten(0, (B, T)).transpose(1, 2)
        return self.head(self.norm(h[:, N:, -1]))  # (B, M, K)

    def loss(self, logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
        """Cross-entropy against class ids."""
        return F.cross_entropy(logits.flatten(0, 1), y_query.long().flatten())


def batch(index: int, seed: int) -> dict:
    """Batch ``index`` of the prior stream with the given seed."""
    return make_batch(index, seed, prior=PriorConfig(), **STREAM)


def train_for(model: nn.Module, seconds: float) -> dict:
    """Train on the prior stream until ``seconds`` of optimiser work have passed.

    Parameters
    ----------
    model : nn.Module
        Has ``forward(x, y_context)`` and ``loss(logits, y_query)``.
    seconds : float
        Budget of forward + backward + step time; batch generation is not counted.

    Returns
    -------
    dict
        Steps, tables and cells seen, and the seconds spent.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    steps = tables = cells = 0
    spent = 0.0
    while spent < seconds:
        b = batch(steps, TRAIN_SEED)
        x, y, n = b["x"], b["y"], b["n_context"]
        start = time.perf_counter()
        loss = model.loss(model(x, y[:, :n]), y[:, n:])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        spent += time.perf_counter() - start
        steps += 1
        tables += x.shape[0]
        cells += x.shape[0] * x.shape[1] * x.shape[2]
    return {
        "steps": steps,
        "tables": tables,
        "seconds": spent,
        "tables_per_s": tables / spent,
        "cells_per_s": cells / spent,
    }


@torch.no_grad()
def evaluate(model: nn.Module, n_classes: int = 10) -> dict:
    """Mean cross-entropy and accuracy over query rows of the held-out prior batches.

    Parameters
    ----------
    model : nn.Module
        A trained model returning logits over ``n_classes`` classes.
    n_classes : int
        Classes of the context-label-marginal baseline.

    Returns
    -------
    dict
        ``ce``, ``accuracy`` and the baseline's ``marginal_ce``, averaged per query row.
    """
    model.eval()
    ce = correct = marginal = rows = 0.0
    for index in range(EVAL_FIRST, EVAL_FIRST + N_EVAL):
        b = batch(index, EVAL_SEED)
        x, y, n = b["x"], b["y"].long(), b["n_context"]
        logits, y_query = model(x, y[:, :n]), y[:, n:]
        ce += F.cross_entropy(logits.flatten(0, 1), y_query.flatten(), reduction="sum").item()
        correct += (logits.argmax(-1) == y_query).sum().item()
        counts = F.one_hot(y[:, :n], n_classes).sum(1).float() + 0.5  # (B, K)
        log_p = (counts / counts.sum(-1, keepdim=True)).log()
        marginal -= log_p.gather(1, y_query).sum().item()
        rows += y_query.numel()
    return {"ce": ce / rows, "accuracy": correct / rows, "marginal_ce": marginal / rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/architecture.json"))
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configs = {
        "ours": (TabularICL, TabularConfig(max_features=10)),
        "ours_without_group_statistics": (
            TabularICL,
            TabularConfig(max_features=10, n_label_groups=0),
        ),
        "per_cell": (
            PerCellICL,
            TabularConfig(max_features=10, d_cell=64, d_model=64, n_heads=4, n_icl_layers=3),
        ),
    }
    results = {}
    for name, (cls, config) in configs.items():
        torch.manual_seed(0)
        model = cls(config)
        params = sum(p.numel() for p in model.parameters())
        results[name] = {"config": config.to_dict(), "params": params}
        results[name] |= train_for(model, args.seconds) | evaluate(model)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds": args.seconds, **results}, indent=2) + "\n")
    columns = ["params", "steps", "tables", "tables_per_s", "cells_per_s"]
    columns += ["ce", "accuracy", "marginal_ce"]
    print("| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, r in results.items():
        cells = [f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c]) for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
