"""The generator's architecture, importable without torch (the ONNX backend reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

OBJECTIVES = ("autoregressive", "masked_diffusion")


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of :class:`molecules.model.DemonstrationTransformer`.

    ``objective`` "autoregressive" reads each molecule left to right (causal attention,
    next-token loss); "masked_diffusion" denoises molecules whose tokens were replaced
    by a mask token, reading the clean demonstrations and the whole noised molecule
    (docs/molecules.md). Its mask token is the last embedding row, after the token index.
    """

    n_tokens: int = 2048  # motif tokens + <pad>, <unk>, <bos> (+ <mask>); from the index
    max_motifs: int = 64  # positions inside one molecule, <bos> included
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    objective: str = "autoregressive"

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective={self.objective!r}: use one of {OBJECTIVES}")

    @property
    def extra_tokens(self) -> int:
        """Embedding rows beyond the token index: the mask token of masked diffusion."""
        return int(self.objective == "masked_diffusion")

    def to_dict(self) -> dict:
        return asdict(self)
