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
DenoiseLogits = Callable[[np.ndarray], np.ndarray]
"""``tokens -> logits``: N partly masked molecules (N, L), ``<bos>`` first, go in; the
logits (N, L, V) of every position come out."""


class Decoder(Protocol):
    """A generator network behind a backend, as :func:`sample_sequences` calls it."""

    config: GeneratorConfig

    def start(self, context: Mapping, score: float, n_samples: int) -> NextLogits:
        """Read ``context`` once; return the step of ``n_samples`` samples with ``score``.

        ``context`` holds (S,) arrays ``tokens``, ``positions`` and ``scores``
        (:func:`molecules.context.make_context`).
        """
        ...


class Denoiser(Protocol):
    """A masked-diffusion generator network, as :func:`denoise_sequences` calls it."""

    config: GeneratorConfig

    def start(self, context: Mapping, score: float) -> DenoiseLogits:
        """Read ``context`` once; return the denoising step of samples with ``score``."""
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


def denoise_sequences(
    denoiser: Denoiser,
    index: TokenIndex,
    context: Mapping,
    score: float,
    lengths: Sequence[int],
    rng: np.random.Generator,
    temperature: float = 1.0,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[int]]:
    """Token ids of molecules of the given lengths unmasked by a masked-diffusion network.

    Each sample starts as ``<bos>``, its prefix, then masks up to ``lengths[i]`` tokens.
    At every step each masked position draws a token (a root token first, then
    tokens with a parent bond; special tokens never) and the sample keeps the draw
    it is surest of (MaskGIT's order), until nothing is masked: as many network passes
    as masked tokens. Unlike :func:`sample_sequences`, nothing makes the attachments
    of the tokens agree, so a sequence may not decode.

    Parameters
    ----------
    denoiser : molecules.model.TorchDenoiser
    index : TokenIndex
    context : mapping
        (S,) arrays from :func:`molecules.context.make_context`.
    score : float
        Normalised score the samples are conditioned on.
    lengths : sequence of int
        Motif tokens per sample.
    rng : numpy.random.Generator
    temperature : float, default=1.0
    prefixes : sequence of (sequence of int), optional
        Per sample, tokens it starts with, at most its length.

    Returns
    -------
    list of (list of int)
    """
    logits_of = denoiser.start(context, score)
    mask = denoiser.config.n_tokens - 1
    root = index.parent_kind == 0
    allowed_at = [np.append(root, False), np.append(index.parent_kind > 0, False)]  # (V,)
    prefixes = prefixes or [[] for _ in lengths]
    sequences: list[list[int]] = [[] for _ in lengths]
    for length in sorted(set(lengths)):
        members = [i for i, n in enumerate(lengths) if n == length]
        canvas = np.full((len(members), length + 1), mask)  # (n, L + 1)
        canvas[:, 0] = SPECIAL.index(BOS)
        for row, i in enumerate(members):
            canvas[row, 1 : 1 + len(prefixes[i])] = prefixes[i][:length]
        allowed = np.stack([allowed_at[0], *[allowed_at[1]] * (length - 1)])  # (L, V)
        while (canvas == mask).any():
            rows, slots = np.nonzero(canvas[:, 1:] == mask)  # the m masked positions
            logits = logits_of(canvas)[rows, 1 + slots]  # (m, V)
            rule = allowed[slots]
            scaled = np.where(rule, logits / temperature, -np.inf)
            log_p = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
            drawn = draw(log_p, rule, 1.0, rng)  # the same distribution, normalised once
            sure = np.full(canvas[:, 1:].shape, -np.inf)  # (n, L)
            sure[rows, slots] = log_p[np.arange(len(rows)), drawn]
            waiting = np.unique(rows)
            best = sure[waiting].argmax(axis=1)  # one position each
            tokens = np.zeros_like(canvas[:, 1:])
            tokens[rows, slots] = drawn
            canvas[waiting, 1 + best] = tokens[waiting, best]
        for row, i in enumerate(members):
            sequences[i] = canvas[row, 1:].tolist()
    return sequences
