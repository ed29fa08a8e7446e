"""Small RDKit helpers: parsing that names the bad input, canonical SMILES, quiet logs."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rdkit import Chem, RDLogger


@contextmanager
def without_rdkit_log() -> Iterator[None]:
    """Silence RDKit's parse and sanitisation messages inside the block, then restore them."""
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")


def to_mol(smiles: str) -> Chem.Mol | None:
    """The sanitised molecule of ``smiles``, or None if RDKit cannot read it."""
    if not isinstance(smiles, str) or not smiles.strip():
        return None
    with without_rdkit_log():
        return Chem.MolFromSmiles(smiles)


def canonical_smiles(smiles: str) -> str | None:
    """RDKit's canonical SMILES of ``smiles`` (stereo kept), or None if it is invalid."""
    mol = to_mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def read_smiles(path: str | Path) -> list[str]:
    """SMILES from a ``.smi`` (one per line) or ``.csv`` with a ``smiles``/``SMILES``
    column, gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as file:
        lines = [line.strip() for line in file if line.strip()]
    if ".csv" in path.suffixes:
        header = [c.strip().lower() for c in lines[0].split(",")]
        if "smiles" not in header:
            raise ValueError(f"{path} has no smiles column (columns: {lines[0]})")
        column = header.index("smiles")
        return [line.split(",")[column] for line in lines[1:]]
    return [line.split()[0] for line in lines]
