"""Transformer building blocks shared by the tabular and the molecule models.

Shapes: ``B`` batch, ``T`` tokens that ask (queries), ``S`` tokens that answer
(keys/values), ``D`` model width, ``H`` heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention where the keys/values may be a prefix of the queries.

    ``n_keys`` restricts keys and values to the first ``n_keys`` tokens: the tabular
    model uses it so that every row reads only the labelled context rows.
    """

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, n_keys: int | None = None, causal: bool = False
    ) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        if n_keys is not None:
            k, v = k[:, :n_keys], v[:, :n_keys]
        # (B, T|S, D) -> (B, H, T|S, D/H)
        q, k, v = (t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out(y.transpose(1, 2).flatten(-2))  # (B, T, D)


class MLP(nn.Module):
    def __init__(self, d_model: int, expansion: int = 4) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, expansion * d_model)
        self.down = nn.Linear(expansion * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """Pre-norm transformer block: attention, then MLP, each on a residual path."""

    def __init__(self, d_model: int, n_heads: int, expansion: int = 4) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads)
        self.norm_mlp = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, expansion)

    def forward(
        self, x: torch.Tensor, n_keys: int | None = None, causal: bool = False
    ) -> torch.Tensor:
        x = x + self.attn(self.norm_attn(x), n_keys=n_keys, causal=causal)
        return x + self.mlp(self.norm_mlp(x))
