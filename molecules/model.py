"""A causal transformer over motif tokens that reads (molecule, score) demonstrations.

A context is a sequence of molecules, each ``<bos>`` followed by its motif tokens (see
:mod:`molecules.tokenizer`). Every token of a molecule carries that molecule's score,
normalised over the context, and its position inside the molecule, so the model learns
p(molecule | score, earlier molecules and their scores); generating with a high score
after the demonstrations asks for a molecule like their best and unlike their worst.
With ``objective="masked_diffusion"`` the same network instead denoises molecules
whose tokens were masked, reading the clean molecules of the context and the whole of
its own (:meth:`DemonstrationTransformer.denoise`).

Shapes: ``B`` contexts (or samples), ``T`` tokens, ``D`` model width, ``V`` tokens in
the vocabulary, ``L`` layers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from molecules.config import GeneratorConfig
from molecules.context import IGNORE, PAD, SPECIAL
from molecules.sampling import DenoiseLogits, NextLogits
from tabicl.blocks import Block

KVCache = list[tuple[torch.Tensor, torch.Tensor]]  # per layer, keys and values (B, H, S, D/H)


class DemonstrationTransformer(nn.Module):
    """Token, in-molecule position and score embeddings, causal blocks, a tied output head."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        D = config.d_model
        self.token_embedding = nn.Embedding(config.n_tokens, D)
        self.position_embedding = nn.Embedding(config.max_motifs, D)
        # Scores are continuous: a small MLP lets nearby scores embed nearby.
        self.score_embedding = nn.Sequential(nn.Linear(1, D), nn.GELU(), nn.Linear(D, D))
        self.blocks = nn.ModuleList(Block(D, config.n_heads) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(D)
        # Small embeddings (as GPT-2): the tied head then starts near uniform over the
        # vocabulary instead of at a loss of ~80 nats from logits of scale sqrt(D).
        for embedding in (self.token_embedding, self.position_embedding):
            nn.init.normal_(embedding.weight, std=0.02)

    def embed(
        self, tokens: torch.Tensor, positions: torch.Tensor, scores: torch.Tensor
    ) -> torch.Tensor:
        """(B, T) token ids, positions in their molecule and scores -> (B, T, D)."""
        positions = positions.clamp(max=self.config.max_motifs - 1)
        score = self.score_embedding(scores.unsqueeze(-1).to(self.token_embedding.weight.dtype))
        return self.token_embedding(tokens) + self.position_embedding(positions) + score

    def forward(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        scores: torch.Tensor,
        cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, KVCache]:
        """Next-token logits (B, T, V) and the keys/values of every layer.

        Without ``cache`` the tokens read each other causally. With ``cache`` (keys and
        values of earlier tokens, same batch size) ``tokens`` must be one new token per
        row, which reads the cache and itself.
        """
        x = self.embed(tokens, positions, scores)  # (B, T, D)
        new_cache: KVCache = []
        for layer, block in enumerate(self.blocks):
            keys, values = block.attn.keys_values(block.norm_attn(x))  # (B, H, T, D/H)
            if cache is not None:
                keys = torch.cat([cache[layer][0], keys], dim=2)
                values = torch.cat([cache[layer][1], values], dim=2)
            new_cache.append((keys, values))
            x = block.read(x, keys, values, causal=cache is None)
        logits = self.norm(x) @ self.token_embedding.weight.T  # (B, T, V)
        return logits, new_cache

    def step(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        scores: torch.Tensor,
        context: KVCache,
        keys: list[torch.Tensor],
        values: list[torch.Tensor],
        length: int,
    ) -> torch.Tensor:
        """Next-token logits (B, V) of one new token per row after a shared context.

        ``context`` holds per layer the (1, H, S, D/H) keys and values of the context,
        which every row reads; ``keys`` and ``values`` hold per layer a (B, H, S_max, D/H)
        buffer of the rows' own tokens whose first ``length`` slots are filled. The new
        token writes its keys and values at slot ``length``. The same computation as
        ``forward`` with a cache, without B copies of the context or a concatenation at
        every step (which ``forward`` needs for ONNX export and costs most of eager
        sampling's time).
        """
        x = self.embed(tokens, positions, scores)  # (B, 1, D)
        for block, shared, layer_keys, layer_values in zip(
            self.blocks, context, keys, values, strict=True
        ):
            new_keys, new_values = block.attn.keys_values(block.norm_attn(x))
            layer_keys[:, :, length] = new_keys[:, :, 0]
            layer_values[:, :, length] = new_values[:, :, 0]
            end = length + 1
            x = block.read(x, layer_keys[:, :, :end], layer_values[:, :, :end], shared=shared)
        return (self.norm(x) @ self.token_embedding.weight.T)[:, -1]

    def denoise(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        scores: torch.Tensor,
        molecule: torch.Tensor,
        clean: torch.Tensor,
    ) -> torch.Tensor:
        """Logits (B, T, V) of every token of contexts in which some molecules are noised.

        ``molecule`` (B, T) numbers each token's molecule (-1 for padding) and ``clean``
        (B, T) marks the tokens of molecules left intact. A token reads the clean tokens
        and those of its own molecule: each noised molecule is denoised from the clean
        demonstrations alone, as at generation (:meth:`denoise_after`).
        """
        readable = clean[:, None, :] | (molecule[:, :, None] == molecule[:, None, :])
        bias = torch.zeros_like(readable, dtype=self.token_embedding.weight.dtype)
        bias = bias.masked_fill(~readable, float("-inf"))[:, None]  # (B, 1, T, T)
        x = self.embed(tokens, positions, scores)
        for block in self.blocks:
            keys, values = block.attn.keys_values(block.norm_attn(x))
            x = block.read(x, keys, values, bias=bias)
        return self.norm(x) @ self.token_embedding.weight.T

    def encode_demonstrations(
        self, tokens: torch.Tensor, positions: torch.Tensor, scores: torch.Tensor
    ) -> KVCache:
        """Per layer the keys and values (B, H, S, D/H) of clean molecules reading each other."""
        x = self.embed(tokens, positions, scores)
        cache: KVCache = []
        for block in self.blocks:
            keys, values = block.attn.keys_values(block.norm_attn(x))
            cache.append((keys, values))
            x = block.read(x, keys, values)
        return cache

    def denoise_after(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor,
        scores: torch.Tensor,
        context: KVCache,
    ) -> torch.Tensor:
        """Logits (N, L, V) of N noised molecules (N, L) after one shared context.

        ``context`` is :meth:`encode_demonstrations` of the demonstrations (batch 1);
        every molecule reads it and the whole of itself.
        """
        x = self.embed(tokens, positions, scores)  # (N, L, D)
        for block, (context_keys, context_values) in zip(self.blocks, context, strict=True):
            keys, values = block.attn.keys_values(block.norm_attn(x))
            keys = torch.cat([context_keys.expand(len(x), -1, -1, -1), keys], dim=2)
            values = torch.cat([context_values.expand(len(x), -1, -1, -1), values], dim=2)
            x = block.read(x, keys, values)
        return self.norm(x) @ self.token_embedding.weight.T


class _TorchNetwork:
    """A :class:`DemonstrationTransformer` behind a sampling loop's interface.

    Parameters
    ----------
    model : DemonstrationTransformer
    """

    def __init__(self, model: DemonstrationTransformer) -> None:
        self.model = model
        self.config = model.config

    @staticmethod
    def _inputs(context: Mapping) -> list[torch.Tensor]:
        """The context's (1, S) tokens, positions and scores."""
        return [torch.as_tensor(context[key])[None] for key in ("tokens", "positions", "scores")]


class TorchDecoder(_TorchNetwork):
    """An autoregressive network that keeps its keys and values between steps."""

    @torch.no_grad()
    def start(self, context: Mapping, score: float, n_samples: int) -> NextLogits:
        _, shared = self.model(*self._inputs(context))  # per layer (1, H, S, D/H), shared
        # One buffer per layer for the tokens every sample generates.
        keys, values = [], []
        for layer_keys, layer_values in shared:
            _, H, _, head = layer_keys.shape
            shape = (n_samples, H, self.config.max_motifs, head)
            keys.append(layer_keys.new_empty(shape))
            values.append(layer_values.new_empty(shape))
        scores = torch.full((n_samples, 1), float(score))
        length = 0

        @torch.no_grad()
        def next_logits(tokens: np.ndarray, position: int) -> np.ndarray:
            nonlocal length
            positions = torch.full((n_samples, 1), position)
            token_ids = torch.as_tensor(tokens)[:, None]
            logits = self.model.step(token_ids, positions, scores, shared, keys, values, length)
            length += 1
            return logits.numpy()

        return next_logits


class TorchDenoiser(_TorchNetwork):
    """A masked-diffusion network that reads its context once."""

    @torch.no_grad()
    def start(self, context: Mapping, score: float) -> DenoiseLogits:
        shared = self.model.encode_demonstrations(*self._inputs(context))  # (1, H, S, D/H)

        @torch.no_grad()
        def logits(tokens: np.ndarray) -> np.ndarray:
            token_ids = torch.as_tensor(tokens)
            positions = torch.arange(token_ids.shape[1]).expand_as(token_ids)
            scores = torch.full(token_ids.shape, float(score))
            return self.model.denoise_after(token_ids, positions, scores, shared).numpy()

        return logits


def next_token_loss(
    model: DemonstrationTransformer, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Mean cross-entropy of each token given the tokens before it, where ``batch["target"]``
    is not -100 (padding and the first token after each molecule are left out)."""
    logits, _ = model(batch["tokens"], batch["positions"], batch["scores"])
    return F.cross_entropy(logits.flatten(0, 1), batch["target"].flatten(), ignore_index=-100)


def masked_token_loss(
    model: DemonstrationTransformer, batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """Masked-diffusion loss of contexts whose molecules carry a mask rate.

    ``batch["mask_rate"]`` (B, T) is, on every token of a molecule to noise, that
    molecule's rate ``t`` (0 on the others), and a token after its molecule's ``<bos>`` is
    masked where ``batch["uniform"]`` (B, T) falls below it. The loss is the
    cross-entropy of the masked tokens weighted by ``1 / t``, per token of the noised
    molecules: the masked-diffusion bound on their negative log-likelihood (MDLM).
    """
    tokens, positions, rate = batch["tokens"], batch["positions"], batch["mask_rate"]
    real = tokens != SPECIAL.index(PAD)
    molecule = torch.where(real, torch.cumsum(real & (positions == 0), dim=1) - 1, -1)
    noised = real & (rate > 0)
    masked = noised & (positions > 0) & (batch["uniform"] < rate)
    noisy = torch.where(masked, model.config.n_tokens - 1, tokens)  # the mask token
    logits = model.denoise(noisy, positions, batch["scores"], molecule, real & ~noised)
    target = torch.where(masked, tokens, IGNORE).flatten()
    loss = F.cross_entropy(logits.flatten(0, 1), target, ignore_index=IGNORE, reduction="none")
    weight = torch.where(masked, 1 / rate.clamp(min=1e-6), 0.0).flatten()
    return (loss * weight).sum() / (noised & (positions > 0)).sum().clamp(min=1)
