"""The tabular network as two ONNX graphs, and an onnxruntime backend for the estimators.

:func:`export_onnx` (needs torch) splits the network where the estimators do:

- the *context graph* ``(x_context, y_context) -> encoded context`` (every column's
  statistics and every in-context layer's keys and values), which ``fit`` runs once
  per ensemble member;
- the *query graph* ``(encoded context, x_query) -> logits``, which ``predict`` runs for
  every batch of query rows.

The query graph is the file the user names (``model.onnx``) and the context graph is
written beside it (``model.context.onnx``); both take any number of tables, context
rows, query rows and features (up to the model's ``max_features``), and both carry the
architecture and a fingerprint of the weights in their metadata, so that a context
graph from another export is refused. :class:`OnnxNetwork` runs the pair with
onnxruntime only: with the ``onnx`` extra, numpy, pandas, scikit-learn and onnxruntime
are all an estimator with ``backend="onnx"`` needs. Preprocessing stays in the
estimators, shared by both backends.

:func:`export_graph`, :func:`start_session` and :class:`GraphPair` are shared with
:mod:`molecules.onnx`, whose generator is exported the same way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tabicl.config import TabularConfig

CONFIG_KEY = "tabicl_config"
WEIGHTS_KEY = "tabicl_weights"  # fingerprint shared by the two graphs of one export
GRAPH_KEY = "tabicl_graph"  # "context", or the graph named: "query" (or "step", molecules)
OPSET = 23  # the first opset with a fused Attention operator, which onnxruntime runs
COLUMN_NAMES = ("column_mean", "column_inverse_variance", "column_summary", "column_relevance")
POINTS_NAME = "context_points"  # the context's features, for distance attention


def context_graph_path(path: str | Path) -> Path:
    """The context graph beside the query graph ``path``: ``x.onnx`` -> ``x.context.onnx``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.context{path.suffix}")


def layer_names(n_layers: int) -> list[str]:
    """Names of every layer's cached keys and values: ``keys_0, values_0, keys_1, ...``."""
    return [f"{kind}_{layer}" for layer in range(n_layers) for kind in ("keys", "values")]


def weights_fingerprint(model) -> str:
    """A short hash of a torch module's weights: equal for the graphs of one export."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def export_graph(
    module,
    example: tuple,
    path: str | Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: dict,
    metadata: dict[str, str],
) -> Path:
    """Export ``module(*example)`` to ``path`` with the dynamo exporter at :data:`OPSET`.

    Parameters
    ----------
    module : torch.nn.Module
    example : tuple
        Example inputs; nested tuples and lists are flattened into ``input_names``.
    path : str or Path
    input_names, output_names : list of str
        Names of the flattened inputs and outputs of the graph.
    dynamic_shapes : dict
        ``torch.export`` dynamic shapes, keyed by the names of ``forward``'s arguments.
    metadata : dict of str to str
        Written to the graph's metadata (``custom_metadata_map`` in onnxruntime).

    Returns
    -------
    Path
    """
    import onnx
    import torch

    program = torch.onnx.export(
        module.eval(),
        example,
        dynamo=True,
        opset_version=OPSET,
        input_names=input_names,
        output_names=output_names,
        dynamic_shapes=dynamic_shapes,
        verbose=False,
    )
    graph = program.model_proto
    onnx.helper.set_model_props(graph, metadata)
    path = Path(path)
    onnx.save_model(graph, path)
    return path


def start_session(model_bytes: bytes, device: str = "cpu", threads: int = 0):
    """An onnxruntime session of a graph, with the settings that measured fastest.

    Parameters
    ----------
    model_bytes : bytes
        The serialised graph.
    device : {"cpu", "auto", "cuda"} or str, default="cpu"
        "cuda[:N]" puts onnxruntime's CUDA provider first; "auto" does so when
        onnxruntime has one.
    threads : int, default=0
        Intra-op threads; 0 lets onnxruntime choose (one per physical core).

    Returns
    -------
    onnxruntime.InferenceSession

    Raises
    ------
    ValueError
        If ``device`` asks for CUDA and onnxruntime has no CUDA provider.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    # All graph rewrites (LayerNorm, Gelu and bias fusions); the default sequential
    # execution: the graphs are chains of large operators, with nothing to run in parallel.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "auto":
        device = "cuda" if has_cuda else "cpu"
    if device.startswith("cuda"):
        if not has_cuda:
            raise ValueError(
                "device='cuda' but onnxruntime has no CUDA provider; install "
                "onnxruntime-gpu or use device='cpu'"
            )
        index = int(device.partition(":")[2] or 0)
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    return ort.InferenceSession(model_bytes, options, providers=providers)


def export_onnx(model, path: str | Path) -> Path:
    """Write ``model`` (a :class:`~tabicl.model.TabularICL`) as its query and context graphs.

    Parameters
    ----------
    model : TabularICL
    path : str or Path
        The query graph's file, e.g. ``model.onnx``; the context graph is written
        beside it (:func:`context_graph_path`: ``model.context.onnx``).

    Returns
    -------
    Path
        ``path``, which ``OnnxNetwork`` and ``model_path`` of ``backend="onnx"`` take.
    """
    import torch

    from tabicl.model import ColumnContext, Context, TabularICL

    class ContextGraph(torch.nn.Module):
        """The encoded context as flat tensors: column statistics, then each layer's."""

        def __init__(self, model: TabularICL) -> None:
            super().__init__()
            self.model = model

        def forward(self, x_context, y_context):
            context = self.model.encode_context(x_context, y_context)
            points = () if context.points is None else (context.points,)
            return (*context.columns, *context.keys_values.flatten(0, 1).unbind(), *points)

    class QueryGraph(torch.nn.Module):
        """Queries reading an encoded context given as the context graph's outputs."""

        def __init__(self, model: TabularICL) -> None:
            super().__init__()
            self.model = model

        def forward(self, columns, keys_values, points, x_query):
            # A list of (keys, values) iterates like the stacked (L, 2, ...) tensor, and
            # lets the graph read each layer's input without splitting a stack again.
            # ``points`` holds the context's features when distance attention reads them.
            context = Context(ColumnContext(*columns), keys_values, *points)
            return self.model.predict_queries(context, x_query)

    model = model.cpu().eval()
    config = model.config
    L = config.n_icl_layers
    Dim = torch.export.Dim
    tables, context_rows, query_rows = Dim("tables"), Dim("context_rows"), Dim("query_rows")
    features = Dim("features", max=config.max_features)
    generator = torch.Generator().manual_seed(0)
    x_context = torch.randn(2, 64, 5, generator=generator)
    y_context = torch.randint(0, 2, (2, 64), generator=generator).float()
    x_query = torch.randn(2, 16, 5, generator=generator)
    context_graph = ContextGraph(model)
    with torch.no_grad():
        encoded = context_graph(x_context, y_context)
    n_columns = len(COLUMN_NAMES)
    columns, layers, points = (
        encoded[:n_columns],
        encoded[n_columns : n_columns + 2 * L],
        encoded[n_columns + 2 * L :],
    )
    keys_values = list(zip(layers[::2], layers[1::2], strict=True))
    metadata = {CONFIG_KEY: json.dumps(config.to_dict()), WEIGHTS_KEY: weights_fingerprint(model)}
    context_names = [*COLUMN_NAMES, *layer_names(L), *(POINTS_NAME,) * len(points)]
    cached = {0: tables, 2: context_rows}  # (B, H, N, D/H)
    export_graph(
        context_graph,
        (x_context, y_context),
        context_graph_path(path),
        ["x_context", "y_context"],
        context_names,
        {
            "x_context": {0: tables, 1: context_rows, 2: features},
            "y_context": {0: tables, 1: context_rows},
        },
        {**metadata, GRAPH_KEY: "context"},
    )
    return export_graph(
        QueryGraph(model),
        (columns, keys_values, points, x_query),
        path,
        [*context_names, "x_query"],
        ["logits"],
        {
            "columns": (
                {0: tables, 1: features},
                {0: tables, 1: features},
                {0: tables, 2: features},
                {0: tables, 1: features},
            ),
            "keys_values": [(cached, cached)] * L,
            "points": ({0: tables, 1: context_rows, 2: features},) * len(points),
            "x_query": {0: tables, 1: query_rows, 2: features},
        },
        {**metadata, GRAPH_KEY: "query"},
    )


class GraphPair:
    """The two graphs of one export in onnxruntime sessions: ``path`` and its context graph.

    The sessions are built from the files' bytes, which are what pickling keeps; they
    are rebuilt on unpickling. A subclass names the graph ``path`` holds (``graph``),
    the metadata key and class of its architecture, and how to export the pair.

    Parameters
    ----------
    path : str or Path
        The main graph; the context graph lies beside it (:func:`context_graph_path`).
    device : {"cpu", "auto", "cuda"} or str, default="cpu"
        "cuda[:N]" uses onnxruntime's CUDA provider; "auto" does so when there is one.
    threads : int, default=0
        Intra-op threads of each session; 0 lets onnxruntime choose (one per core).

    Attributes
    ----------
    sessions : dict of str to onnxruntime.InferenceSession
        By graph: ``graph`` and "context".
    config
        The exported architecture.
    """

    graph: str
    config_key: str
    config_type: type
    export_hint: str  # how to write both graphs, for the error that finds one missing

    def __init__(self, path: str | Path, device: str = "cpu", threads: int = 0) -> None:
        paths = {self.graph: Path(path), "context": context_graph_path(path)}
        for graph, file in paths.items():
            if not file.is_file():
                raise FileNotFoundError(
                    f"{file} ({graph} graph) not found: write both graphs with "
                    + self.export_hint.format(path=paths[self.graph])
                )
        self.graphs = {graph: file.read_bytes() for graph, file in paths.items()}
        self.device = device
        self.threads = threads
        self._start()

    def _start(self) -> None:
        self.sessions = {
            graph: start_session(model_bytes, self.device, self.threads)
            for graph, model_bytes in self.graphs.items()
        }
        metadata = {
            graph: session.get_modelmeta().custom_metadata_map
            for graph, session in self.sessions.items()
        }
        for graph, values in metadata.items():
            if self.config_key not in values:
                raise ValueError(
                    f"the {graph} graph has no {self.config_key} in its metadata: it was "
                    "not written by this package's export_onnx"
                )
            if values.get(GRAPH_KEY) != graph:
                raise ValueError(
                    f"the file read as the {graph} graph is the {values.get(GRAPH_KEY)} "
                    f"graph: pass the {self.graph} graph (x.onnx), not x.context.onnx"
                )
        if metadata[self.graph][WEIGHTS_KEY] != metadata["context"][WEIGHTS_KEY]:
            raise ValueError(
                f"the {self.graph} graph and the context graph beside it come from different "
                "networks: export them again together"
            )
        self.config = self.config_type(**json.loads(metadata[self.graph][self.config_key]))

    def __getstate__(self) -> dict:
        return {"graphs": self.graphs, "device": self.device, "threads": self.threads}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._start()


class OnnxNetwork(GraphPair):
    """An exported tabular network in onnxruntime, with the estimators' interface.

    :meth:`encode_context` runs the context graph (``fit``, once per member) and
    :meth:`predict_logits` only the query graph, as the torch backend caches its
    encoded context.

    Parameters
    ----------
    path : str or Path
        The query graph written by :func:`export_onnx`; its context graph lies beside it.
    device : {"cpu", "auto", "cuda"} or str, default="cpu"
        "cuda[:N]" uses onnxruntime's CUDA provider; "auto" does so when there is one.
    threads : int, default=0
        Intra-op threads of each session; 0 lets onnxruntime choose (one per core).

    Attributes
    ----------
    config : TabularConfig
        The exported architecture.
    """

    graph = "query"
    config_key = CONFIG_KEY
    config_type = TabularConfig
    export_hint = "`python -m tabicl export-onnx --out {path}`"

    def encode_context(self, x_context: np.ndarray, y_context: np.ndarray) -> dict[str, np.ndarray]:
        """The encoded context of one table: ``x_context`` (N, F), ``y_context`` (N,).

        Returns
        -------
        dict of str to ndarray
            The context graph's outputs by name: what the query graph reads.
        """
        session = self.sessions["context"]
        names = [output.name for output in session.get_outputs()]
        inputs = {
            "x_context": np.ascontiguousarray(x_context, dtype=np.float32)[None],
            "y_context": np.ascontiguousarray(y_context, dtype=np.float32)[None],
        }
        return dict(zip(names, session.run(names, inputs), strict=True))

    def predict_logits(self, context: dict[str, np.ndarray], x_query: np.ndarray) -> np.ndarray:
        """Logits (M, K) of the rows ``x_query`` (M, F) given an encoded context."""
        x = np.ascontiguousarray(x_query, dtype=np.float32)[None]
        return self.sessions["query"].run(["logits"], {**context, "x_query": x})[0][0]
