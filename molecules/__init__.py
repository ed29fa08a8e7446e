"""Demonstration-conditioned molecule generation.

:class:`DemonstrationGenerator` reads (SMILES, score) demonstrations and samples new
molecules conditioned on a high score with the bundled network; :class:`MotifTokenizer`
turns SMILES into motif tokens and back. Both need RDKit (``pip install demoicl[molecules]``).
"""

from __future__ import annotations

__all__ = ["DemonstrationGenerator", "MotifTokenizer"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'molecules' has no attribute {name!r}")
    try:
        import rdkit  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"molecules.{name} needs RDKit: pip install 'demoicl[molecules]'"
        ) from error
    from molecules.generator import DemonstrationGenerator
    from molecules.tokenizer import MotifTokenizer

    return {"DemonstrationGenerator": DemonstrationGenerator, "MotifTokenizer": MotifTokenizer}[
        name
    ]
