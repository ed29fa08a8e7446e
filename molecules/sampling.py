"""Grammar-constrained sampling: every sampled sequence is a complete motif tree.

At each step a sample may only draw tokens whose parent bond type matches its open
attachment on top of the stack (a root token first), and only tokens whose new
attachments still fit in the remaining length, so every sequence closes before
``max_motifs``.

One loop, :func:`sample_sequences`, serves both backends. A :class:`Decoder` reads the
context once and returns a :data:`NextLogits` step; the loop masks its logits and
draws with numpy. :class:`molecules.model.TorchDecoder` runs the torch network and
:class:`molecules.onnx.OnnxDecoder` its ONNX export; because the draws are the same,
the same seed gives the same molecules with either (up to float rounding: a token
differs only where a uniform draw falls within the logits' rounding of the boundary
between two tokens). Shapes: ``N`` samples, ``V`` tokens, ``S`` context tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from molecules.config import GeneratorConfig
from molecules.context import BOS, SPECIAL, TokenIndex

NextLogits = Callable[[np.ndarray, int], np.ndarray]
"""``(tokens, position) -> logits``: every sample's newest token (N,), at ``position`` in its
molecule, goes in; the logits (N, V) of the token after it come out."""


class Decoder(Protocol):
    """A generator network behind a backend, as :func:`sample_sequences` calls it."""

    config: GeneratorConfig

    def start(self, context: Mapping, score: float, n_samples: int) -> NextLogits:
        """Read ``context`` once; return the step of ``n_samples`` samples with ``score``.

        ``context`` holds (S,) arrays ``tokens``, ``positions`` and ``scores``
        (:func:`molecules.context.make_context`).
        """
        ...


def sample_sequences(
    decoder: Decoder,
    index: TokenIndex,
    context: Mapping,
    score: float,
    n_samples: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[int] | None]:
    """Token ids of ``n_samples`` molecules generated after ``context`` with ``score``.

    Parameters
    ----------
    decoder : Decoder
        :class:`molecules.model.TorchDecoder` or :class:`molecules.onnx.OnnxDecoder`.
    index : TokenIndex
        The tokens of the decoder's network, with their attachment tables.
    context : mapping
        (S,) arrays from :func:`molecules.context.make_context`.
    score : float
        Normalised score the samples are conditioned on.
    n_samples : int
    rng : numpy.random.Generator
        Draws one uniform per unfinished sample and step.
    temperature : float, default=1.0
    prefixes : sequence of (sequence of int), optional
        Per sample, tokens it starts with (a cut of a demonstration's tokens: a connected
        part of its motif tree); the network completes the open attachments. The draws
        are the same with or without prefixes, so a sample's suffix has its own draws.

    Returns
    -------
    list of (list of int or None)
        A sample is None where no token fitted (the index lacks a leaf of some bond type).
    """
    max_tokens = decoder.config.max_motifs - 1  # <bos> takes position 0
    next_logits = decoder.start(context, score, n_samples)
    stacks: list[list[int]] = [[] for _ in range(n_samples)]  # open attachments' bond types
    sequences: list[list[int] | None] = [[] for _ in range(n_samples)]
    active = np.ones(n_samples, dtype=bool)
    tokens = np.full(n_samples, SPECIAL.index(BOS))
    prefixes = prefixes or [[] for _ in range(n_samples)]
    prefix_lengths = np.array([len(prefix) for prefix in prefixes])  # (N,)
    prefix_tokens = np.zeros((n_samples, max(prefix_lengths, default=0)), dtype=int)
    for i, prefix in enumerate(prefixes):
        prefix_tokens[i, : len(prefix)] = prefix  # (N, longest prefix)
    for step in range(max_tokens):
        logits = next_logits(tokens, step)  # (N, V)
        top = np.array([stack[-1] if stack else 0 for stack in stacks])  # (N,)
        opened = np.array([len(stack) for stack in stacks]) - int(step > 0)  # after filling
        allowed = (index.parent_kind == top[:, None]) & (
            opened[:, None] + index.n_children <= max_tokens - step - 1
        )  # (N, V)
        chosen = np.zeros(n_samples, dtype=int)  # finished samples feed <pad>
        chosen[active] = draw(logits[active], allowed[active], temperature, rng)
        forced = active & (step < prefix_lengths)
        if forced.any():
            chosen[forced] = prefix_tokens[forced, step]
        for i in np.flatnonzero(active):
            if chosen[i] < 0:
                sequences[i], active[i] = None, False
                continue
            token = int(chosen[i])
            sequences[i].append(token)
            if step:
                stacks[i].pop()
            stacks[i].extend(reversed(index.children[token]))
            active[i] = bool(stacks[i])
        if not active.any():
            break
        tokens = np.maximum(chosen, 0)  # a sample with no fitting token is done: feed <pad>
    return sequences


def draw(
    logits: np.ndarray, allowed: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """One token per row of ``softmax(logits / temperature)`` over the ``allowed`` tokens.

    Inverse-CDF sampling of one uniform per row, in float64: two backends whose logits
    differ by rounding draw the same tokens from the same ``rng``.

    Parameters
    ----------
    logits : ndarray of shape (N, V)
    allowed : ndarray of bool, shape (N, V)
    temperature : float
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (N,)
        Token ids; -1 in the rows where no token is allowed.
    """
    scaled = np.where(allowed, logits.astype(np.float64) / temperature, -np.inf)
    peak = scaled.max(axis=1, keepdims=True)
    weights = np.exp(scaled - np.where(np.isfinite(peak), peak, 0.0))  # 0 where not allowed
    cdf = weights.cumsum(axis=1)
    uniform = rng.random(len(logits)) * cdf[:, -1]
    chosen = (cdf <= uniform[:, None]).sum(axis=1)  # the first token whose cdf exceeds it
    return np.where(cdf[:, -1] > 0, chosen, -1)
