"""The tabular model's architecture, importable without torch (the ONNX backend reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

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
    # In-context attention adds a learned per-head multiple of the rows' feature distance.
    distance_attention: bool = False
    # Each feature's weight in the row tokens and distances is learned from how the
    # context's labels depend on it, so that irrelevant columns can fade out.
    feature_relevance: bool = False

    def to_dict(self) -> dict:
        return asdict(self)
