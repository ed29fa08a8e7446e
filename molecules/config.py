"""The generator's architecture, importable without torch (the ONNX backend reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of :class:`molecules.model.DemonstrationTransformer`."""

    n_tokens: int = 2048  # motif tokens + <pad>, <unk>, <bos>; set from the token index
    max_motifs: int = 64  # positions inside one molecule, <bos> included
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4

    def to_dict(self) -> dict:
        return asdict(self)
