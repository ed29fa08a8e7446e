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
    model uses it so that every row reads only the labelled context rows. Split into
    :meth:`keys_values` and :meth:`read`, it lets tokens read keys/values computed
    once and cached (the tabular model's fit-once context).
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
        return self.read(x, *self.keys_values(x[:, :n_keys]), causal=causal)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the tokens ``x`` (B, S, D), each of shape (B, H, S, D/H)."""
        D = x.shape[-1]
        k, v = F.linear(x, self.qkv.weight[D:], self.qkv.bias[D:]).split(D, dim=-1)
        return self._heads(k), self._heads(v)

    def read(
        self,
        x: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        causal: bool = False,
        shared: tuple[torch.Tensor, torch.Tensor] | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The tokens ``x`` (B, T, D) attend to ``keys`` and ``values`` (B, H, S, D/H).

        ``shared`` keys and values (1, H, S', D/H) come before every row's own, for one
        token per row (T = 1): many samples read one context without B copies of it.
        ``bias`` (B, H, T, S) is added to the attention logits.
        """
        D = x.shape[-1]
        q = self._heads(F.linear(x, self.qkv.weight[:D], self.qkv.bias[:D]))
        if bias is not None:
            if shared is not None or causal:
                raise ValueError("an attention bias goes with neither shared keys nor causal")
            # Written out: the ONNX exporter cannot decompose a fused attention with a bias.
            scores = q @ keys.transpose(-1, -2) * q.shape[-1] ** -0.5 + bias
            y = scores.softmax(dim=-1) @ values
        elif shared is None:
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=causal)
        else:
            y = _attend_after_shared(q, *shared, keys, values)
        return self.out(y.transpose(1, 2).flatten(-2))  # (B, T, D)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)  # (B, H, T, D/H)


def _attend_after_shared(
    q: torch.Tensor,
    shared_keys: torch.Tensor,
    shared_values: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
) -> torch.Tensor:
    """One softmax over shared (1, H, S', D/H) then own (B, H, S, D/H) keys, for q (B, H, 1, D/H).

    The shared part runs as one matrix product per head with the B rows as its queries,
    so the shared keys are read once, not once per row.
    """
    scale = q.shape[-1] ** -0.5
    rows = q.transpose(0, 2)  # (1, H, B, D/H)
    shared_scores = (rows @ shared_keys.transpose(-1, -2)).transpose(0, 2)  # (B, H, 1, S')
    own_scores = q @ keys.transpose(-1, -2)  # (B, H, 1, S)
    weights = (torch.cat([shared_scores, own_scores], dim=-1) * scale).softmax(dim=-1)
    n_shared = shared_keys.shape[2]
    shared_part = (weights[..., :n_shared].transpose(0, 2) @ shared_values).transpose(0, 2)
    return shared_part + weights[..., n_shared:] @ values  # (B, H, 1, D/H)


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
        keys, values = self.attn.keys_values(self.norm_attn(x[:, :n_keys]))
        return self.read(x, keys, values, causal=causal)

    def read(
        self,
        x: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        causal: bool = False,
        shared: tuple[torch.Tensor, torch.Tensor] | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The block for tokens ``x`` whose attention reads the given keys and values
        (after ``shared`` ones, plus ``bias``: see :meth:`Attention.read`)."""
        attend = self.attn.read(self.norm_attn(x), keys, values, causal, shared, bias)
        x = x + attend
        return x + self.mlp(self.norm_mlp(x))
