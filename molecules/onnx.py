"""The molecule generator's network as two ONNX graphs, and a decoder that runs them.

:func:`export_onnx` (needs torch) writes into a generator checkpoint directory:

- ``generator.context.onnx``: the demonstrations' tokens, positions and scores
  ``(B, S)`` -> every layer's keys and values ``keys_0, values_0, ...`` ``(B, H, S, D/H)``;
- ``generator.onnx``, one sampling step: the newest token of ``B`` samples ``(B, 1)``
  and the cache so far (``past_keys_0, past_values_0, ...``) -> the next token's logits
  ``(B, V)`` and the cache with the step appended (``keys_0, values_0, ...``).

:class:`OnnxDecoder` runs them with onnxruntime and numpy, behind the same
:class:`~molecules.sampling.Decoder` interface as the torch network, so that one
sampling loop (:func:`molecules.sampling.sample_sequences`) serves both and the same
seed gives the same molecules (``DemonstrationGenerator(backend="onnx")``). The token
index and the motif merges stay in the directory, as for the torch backend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from molecules.config import GeneratorConfig
from molecules.sampling import NextLogits
from tabicl.onnx import (
    GRAPH_KEY,
    WEIGHTS_KEY,
    GraphPair,
    context_graph_path,
    export_graph,
    layer_names,
    weights_fingerprint,
)

CONFIG_KEY = "molecules_config"
STEP_GRAPH = "generator.onnx"  # its context graph is generator.context.onnx
CONTEXT_INPUTS = ("tokens", "positions", "scores")


def export_onnx(directory: str | Path) -> Path:
    """Write the step and context graphs of the checkpoint in ``directory`` into it.

    Parameters
    ----------
    directory : str or Path
        A generator checkpoint (``python -m molecules export``).

    Returns
    -------
    Path
        The step graph, ``directory / "generator.onnx"``.
    """
    import torch

    from molecules.checkpoint import load_generator
    from molecules.model import DemonstrationTransformer

    class ContextGraph(torch.nn.Module):
        """The keys and values of one context's tokens, layer by layer."""

        def __init__(self, model: DemonstrationTransformer) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens, positions, scores):
            _, cache = self.model(tokens, positions, scores)
            return tuple(tensor for layer in cache for tensor in layer)

    class StepGraph(torch.nn.Module):
        """One token per sample reading the cache: next-token logits and the new cache."""

        def __init__(self, model: DemonstrationTransformer) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens, positions, scores, cache):
            logits, cache = self.model(tokens, positions, scores, cache)
            return logits[:, -1], *(tensor for layer in cache for tensor in layer)

    directory = Path(directory)
    model = load_generator(directory).model.cpu().eval()
    config = model.config
    if config.objective != "autoregressive":
        raise ValueError(
            f"{directory} holds a {config.objective} generator; ONNX export covers the "
            "autoregressive one: run this one with backend='torch'"
        )
    names = layer_names(config.n_layers)
    Dim = torch.export.Dim
    samples, length = Dim("samples"), Dim("length")
    generator = torch.Generator().manual_seed(0)
    context = (
        torch.randint(3, config.n_tokens, (1, 12), generator=generator),  # (1, S)
        torch.arange(12)[None] % 4,
        torch.randn(1, 12, generator=generator),
    )
    context_graph = ContextGraph(model)
    with torch.no_grad():
        flat = context_graph(*context)
    cache = [  # three samples after the context
        (k.repeat(3, 1, 1, 1), v.repeat(3, 1, 1, 1))
        for k, v in zip(flat[::2], flat[1::2], strict=True)
    ]
    step = (torch.full((3, 1), 2), torch.full((3, 1), 1), torch.full((3, 1), 0.5))  # (N, 1)
    metadata = {CONFIG_KEY: json.dumps(config.to_dict()), WEIGHTS_KEY: weights_fingerprint(model)}
    export_graph(
        context_graph,
        context,
        context_graph_path(directory / STEP_GRAPH),
        list(CONTEXT_INPUTS),
        names,
        {name: {1: length} for name in CONTEXT_INPUTS},  # one context at a time
        {**metadata, GRAPH_KEY: "context"},
    )
    cached = {0: samples, 2: length}  # (N, H, S, D/H)
    return export_graph(
        StepGraph(model),
        (*step, cache),
        directory / STEP_GRAPH,
        [*CONTEXT_INPUTS, *(f"past_{name}" for name in names)],
        ["logits", *names],
        {
            **{name: {0: samples} for name in CONTEXT_INPUTS},
            "cache": [(cached, cached)] * len(cache),
        },
        {**metadata, GRAPH_KEY: "step"},
    )


class OnnxDecoder(GraphPair):
    """The exported generator network in onnxruntime, as :func:`sample_sequences` calls it.

    Parameters
    ----------
    directory : str or Path
        A generator checkpoint holding the graphs of :func:`export_onnx`.
    device : {"cpu", "auto", "cuda"} or str, default="cpu"
        "cuda[:N]" uses onnxruntime's CUDA provider; "auto" does so when there is one.
    threads : int, default=0
        Intra-op threads of each session; 0 lets onnxruntime choose (one per core).

    Attributes
    ----------
    config : GeneratorConfig
        The exported architecture.
    """

    graph = "step"
    config_key = CONFIG_KEY
    config_type = GeneratorConfig
    export_hint = "molecules.onnx.export_onnx('{path.parent}')"

    def __init__(self, directory: str | Path, device: str = "cpu", threads: int = 0) -> None:
        super().__init__(Path(directory) / STEP_GRAPH, device, threads)

    def start(self, context: Mapping, score: float, n_samples: int) -> NextLogits:
        """Run the context graph once; return the step of ``n_samples`` samples.

        See :class:`molecules.sampling.Decoder`.
        """
        inputs = {
            "tokens": np.asarray(context["tokens"], dtype=np.int64)[None],
            "positions": np.asarray(context["positions"], dtype=np.int64)[None],
            "scores": np.asarray(context["scores"], dtype=np.float32)[None],
        }
        names = [output.name for output in self.sessions["context"].get_outputs()]
        encoded = self.sessions["context"].run(names, inputs)  # each (1, H, S, D/H)
        cache = {
            name: np.repeat(layer, n_samples, axis=0)
            for name, layer in zip(names, encoded, strict=True)
        }
        scores = np.full((n_samples, 1), score, dtype=np.float32)

        def next_logits(tokens: np.ndarray, position: int) -> np.ndarray:
            nonlocal cache
            feeds = {
                "tokens": np.asarray(tokens, dtype=np.int64)[:, None],
                "positions": np.full((n_samples, 1), position, dtype=np.int64),
                "scores": scores,
                **{f"past_{name}": layer for name, layer in cache.items()},
            }
            logits, *layers = self.sessions["step"].run(["logits", *names], feeds)
            cache = dict(zip(names, layers, strict=True))
            return logits

        return next_logits
