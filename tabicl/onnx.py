"""The tabular network as an ONNX graph, and an onnxruntime backend for the estimators.

:func:`export_onnx` (needs torch) writes ``(x_context, y_context, x_query) -> logits``
with dynamic tables, context rows, query rows and features (up to the model's
``max_features``); the architecture travels in the graph's metadata. :class:`OnnxNetwork`
runs such a file with onnxruntime only: with the ``onnx`` extra, numpy, pandas,
scikit-learn and onnxruntime are all an estimator with ``backend="onnx"`` needs.
Preprocessing stays in the estimators, shared by both backends.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tabicl.config import TabularConfig

INPUTS = ("x_context", "y_context", "x_query")
CONFIG_KEY = "tabicl_config"
OPSET = 23  # the first opset with a fused Attention operator, which onnxruntime speeds up


def export_onnx(model, path: str | Path) -> Path:
    """Write ``model`` (a :class:`~tabicl.model.TabularICL`) to ``path`` as ONNX.

    Parameters
    ----------
    model : TabularICL
    path : str or Path

    Returns
    -------
    Path
    """
    import onnx
    import torch

    from tabicl.model import TabularICL

    class Forward(torch.nn.Module):
        """The forward pass with the context and the queries as separate inputs."""

        def __init__(self, model: TabularICL) -> None:
            super().__init__()
            self.model = model

        def forward(self, x_context, y_context, x_query):
            return self.model.predict_queries(
                self.model.encode_context(x_context, y_context), x_query
            )

    config = model.config
    Dim = torch.export.Dim
    tables, context_rows, query_rows = Dim("tables"), Dim("context_rows"), Dim("query_rows")
    features = Dim("features", max=config.max_features)
    generator = torch.Generator().manual_seed(0)
    example = (
        torch.randn(2, 64, 5, generator=generator),
        torch.randint(0, 2, (2, 64), generator=generator).float(),
        torch.randn(2, 16, 5, generator=generator),
    )
    program = torch.onnx.export(
        Forward(model.cpu().eval()),
        example,
        dynamo=True,
        opset_version=OPSET,
        input_names=list(INPUTS),
        output_names=["logits"],
        dynamic_shapes={
            "x_context": {0: tables, 1: context_rows, 2: features},
            "y_context": {0: tables, 1: context_rows},
            "x_query": {0: tables, 1: query_rows, 2: features},
        },
        verbose=False,
    )
    graph = program.model_proto
    onnx.helper.set_model_props(graph, {CONFIG_KEY: json.dumps(config.to_dict())})
    path = Path(path)
    onnx.save_model(graph, path)
    return path


class OnnxNetwork:
    """An exported network in an onnxruntime session, with the estimators' interface.

    The session is built from the file's bytes, which are what pickling keeps; it is
    rebuilt on unpickling. The encoded "context" of this backend is the context table
    itself: the graph reads it with every batch of queries.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`export_onnx`.
    device : {"cpu", "cuda"}, default="cpu"
        "cuda" uses onnxruntime's CUDA provider.
    threads : int, default=0
        Intra-op threads of the session; 0 lets onnxruntime choose (one per core).
    """

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: write one with `python -m tabicl export-onnx --out {path}`"
            )
        self.model_bytes = path.read_bytes()
        self.device = device
        self.threads = threads
        self._start()

    def _start(self) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = self.threads
        providers = ["CPUExecutionProvider"]
        if self.device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError(
                    "device='cuda' but onnxruntime has no CUDA provider; install "
                    "onnxruntime-gpu or use device='cpu'"
                )
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(self.model_bytes, options, providers=providers)
        metadata = self.session.get_modelmeta().custom_metadata_map
        if CONFIG_KEY not in metadata:
            raise ValueError(
                "this ONNX file has no tabicl config in its metadata: export it with "
                "tabicl.onnx.export_onnx or `python -m tabicl export-onnx`"
            )
        self.config = TabularConfig(**json.loads(metadata[CONFIG_KEY]))

    def __getstate__(self) -> dict:
        return {"model_bytes": self.model_bytes, "device": self.device, "threads": self.threads}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start()

    def encode_context(
        self, x_context: np.ndarray, y_context: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The context table as the graph's inputs: ``(1, N, F)`` and ``(1, N)`` float32."""
        return (
            np.ascontiguousarray(x_context, dtype=np.float32)[None],
            np.ascontiguousarray(y_context, dtype=np.float32)[None],
        )

    def predict_logits(
        self, context: tuple[np.ndarray, np.ndarray], x_query: np.ndarray
    ) -> np.ndarray:
        """Logits (M, K) of the rows ``x_query`` (M, F) given the context."""
        x_context, y_context = context
        inputs = dict(
            zip(INPUTS, (x_context, y_context, np.asarray(x_query, np.float32)[None]), strict=True)
        )
        return self.session.run(["logits"], inputs)[0][0]
