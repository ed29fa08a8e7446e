"""Motifs: ring systems as units, then merges of frequent adjacent pairs (Node Pair Encoding).

A molecule is first cut into *base units*: each ring system (rings that share an atom)
and each atom outside rings. Every bond between two units is then acyclic, so the units
form a tree. :class:`MotifVocabulary` learns, like byte-pair encoding, which adjacent
pairs of units occur most often in a corpus and merges them, most frequent first. A
motif is named by the canonical SMILES of its atoms and inner bonds, without stereo.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from rdkit import Chem

from molecules.chem import to_mol

Partition = list[frozenset[int]]  # atom indices of each unit of one molecule


def base_units(mol: Chem.Mol) -> Partition:
    """Ring systems (rings that share an atom), each double bond with E/Z stereo together
    with its neighbours (the atoms that define the stereo stay inside one unit), and
    the other atoms alone."""
    parent = list(range(mol.GetNumAtoms()))

    def root(atom: int) -> int:
        while parent[atom] != atom:
            atom = parent[atom]
        return atom

    def join(a: int, b: int) -> None:
        parent[root(a)] = root(b)

    for ring in mol.GetRingInfo().AtomRings():
        for atom in ring[1:]:
            join(ring[0], atom)
    for bond in mol.GetBonds():
        if bond.GetStereo() != Chem.BondStereo.STEREONONE:
            for end in (bond.GetBeginAtom(), bond.GetEndAtom()):
                for neighbour in end.GetNeighbors():
                    join(end.GetIdx(), neighbour.GetIdx())
    units: dict[int, set[int]] = defaultdict(set)
    for atom in range(mol.GetNumAtoms()):
        units[root(atom)].add(atom)
    return [frozenset(unit) for unit in units.values()]


def motif_name(mol: Chem.Mol, atoms: Iterable[int]) -> str:
    """Canonical SMILES of the atoms and the bonds among them, stereo left out."""
    atoms = sorted(atoms)
    inside = set(atoms)
    bonds = [
        b.GetIdx()
        for b in mol.GetBonds()
        if b.GetBeginAtomIdx() in inside and b.GetEndAtomIdx() in inside
    ]
    return Chem.MolFragmentToSmiles(
        mol, atomsToUse=atoms, bondsToUse=bonds or None, isomericSmiles=False
    )


def adjacent_pairs(mol: Chem.Mol, units: Partition) -> set[tuple[int, int]]:
    """Index pairs (i < j) of units joined by a bond."""
    owner = {atom: i for i, unit in enumerate(units) for atom in unit}
    pairs = set()
    for bond in mol.GetBonds():
        i, j = owner[bond.GetBeginAtomIdx()], owner[bond.GetEndAtomIdx()]
        if i != j:
            pairs.add((min(i, j), max(i, j)))
    return pairs


class MotifVocabulary:
    """Merge rules learned from a corpus, applied in the order they were learned.

    Parameters
    ----------
    merges : sequence of str
        Names (see :func:`motif_name`) of merged motifs, most frequent first.
    max_atoms : int
        Largest motif a merge may create.
    """

    def __init__(self, merges: Iterable[str] = (), max_atoms: int = 12) -> None:
        self.merges = list(merges)
        self.max_atoms = max_atoms
        self.rank = {name: r for r, name in enumerate(self.merges)}

    def partition(self, mol: Chem.Mol, merge: bool = True) -> Partition:
        """Units of ``mol``: base units, then merged pairs whose union is a learned motif.

        Like byte-pair encoding, the pair whose merged motif was learned first merges
        first, until no adjacent pair forms a learned motif. ``merge=False`` returns
        the base units: the fallback for motifs the token vocabulary does not know.
        """
        pairs = _UnitPairs(mol, base_units(mol), self.max_atoms)
        while merge:
            ranked = [(self.rank[n], key) for key, n in pairs.names.items() if n in self.rank]
            if not ranked:
                break
            pairs.merge(min(ranked, key=lambda item: item[0])[1])
        return pairs.units

    @classmethod
    def learn(
        cls, smiles: Iterable[str], n_merges: int, max_atoms: int = 12, min_count: int = 2
    ) -> MotifVocabulary:
        """Learn up to ``n_merges`` merges from a corpus, most frequent adjacent pair first.

        Each round merges every occurrence of the most frequent pair in the corpus (a
        pair counts once per occurrence) and recounts only the pairs that changed.
        Learning stops early when no pair occurs ``min_count`` times.
        """
        mols = [m for m in map(to_mol, smiles) if m is not None]
        corpus = [_UnitPairs(mol, base_units(mol), max_atoms) for mol in mols]
        counts: Counter[str] = Counter()
        holders: dict[str, set[int]] = defaultdict(set)  # motif name -> molecules with it
        for index, molecule in enumerate(corpus):
            counts.update(molecule.names.values())
            for name in molecule.names.values():
                holders[name].add(index)
        merges: list[str] = []
        while len(merges) < n_merges and counts:
            name, count = counts.most_common(1)[0]
            if count < min_count:
                break
            merges.append(name)
            for index in holders.pop(name):
                before = Counter(corpus[index].names.values())
                corpus[index].merge_all(name)
                after = Counter(corpus[index].names.values())
                counts.subtract(before)
                counts.update(after)
                for other in after:
                    holders[other].add(index)
            counts = +counts  # drop the pairs that no longer occur
        return cls(merges, max_atoms)

    def save(self, path: str | Path) -> None:
        """One merged motif per line, in merge order, after a ``# max_atoms=N`` header."""
        lines = [f"# max_atoms={self.max_atoms}", *self.merges]
        Path(path).write_text("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> MotifVocabulary:
        """Read a file written by :meth:`save`."""
        header, *merges = Path(path).read_text().splitlines()
        if not header.startswith("# max_atoms="):
            raise ValueError(f"{path} is not a motif vocabulary: its first line is {header!r}")
        return cls(merges, int(header.split("=", 1)[1]))


class _UnitPairs:
    """The units of one molecule and the motif name of each adjacent pair, named once."""

    def __init__(self, mol: Chem.Mol, units: Partition, max_atoms: int) -> None:
        self.mol, self.units, self.max_atoms = mol, units, max_atoms
        self.names: dict[frozenset[frozenset[int]], str] = {}
        self._name_new_pairs()

    def _name_new_pairs(self) -> None:
        current = set()
        for i, j in adjacent_pairs(self.mol, self.units):
            a, b = self.units[i], self.units[j]
            if len(a) + len(b) <= self.max_atoms:
                key = frozenset((a, b))
                current.add(key)
                if key not in self.names:
                    self.names[key] = motif_name(self.mol, a | b)
        self.names = {key: name for key, name in self.names.items() if key in current}

    def merge(self, pair: frozenset[frozenset[int]]) -> None:
        """Merge two adjacent units into one."""
        self.units = [u for u in self.units if u not in pair] + [frozenset().union(*pair)]
        self._name_new_pairs()

    def merge_all(self, name: str) -> None:
        """Merge, one at a time, adjacent pairs whose union is the motif ``name``."""
        while (pair := next((k for k, n in self.names.items() if n == name), None)) is not None:
            self.merge(pair)
