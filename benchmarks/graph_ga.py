"""Graph GA (Jensen, Chem. Sci. 2019): RDKit crossover and mutation on molecular graphs.

A compact re-implementation of the reaction-SMARTS operators of
jensengroup/GB_GA (crossover.py, mutate.py): non-ring crossover only (the ring
crossover is left out), the seven mutations with the original probabilities, and
the original ring and size checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from rdkit import Chem
from rdkit.Chem import AllChem

from molecules.chem import without_rdkit_log

_NON_RING_SINGLE = Chem.MolFromSmarts("[*]-;!@[*]")
_JOIN = AllChem.ReactionFromSmarts("[*:1]-[1*].[1*]-[*:2]>>[*:1]-[*:2]")
_RING_PATTERNS = [Chem.MolFromSmarts(s) for s in ("[*]=[*]=[*]", "[*;R]=[*;R]=[*;R]")]


def _ok(mol: Chem.Mol | None, max_atoms: int) -> bool:
    """Sanitisable, not too big, no rings beyond 6 atoms, no allenes, no strained double bonds."""
    if mol is None:
        return False
    try:
        Chem.SanitizeMol(mol)
    except (ValueError, RuntimeError):
        return False
    if not 0 < mol.GetNumAtoms() <= max_atoms or Chem.MolToSmiles(mol) == "":
        return False
    rings = mol.GetRingInfo()
    if any(len(ring) > 6 for ring in rings.AtomRings()):
        return False
    if any(mol.HasSubstructMatch(p) for p in _RING_PATTERNS):
        return False
    strained = Chem.MolFromSmarts("[r3,r4]=[r3,r4]")
    return not mol.HasSubstructMatch(strained)


def _choice(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    return options[rng.choice(len(options), p=p)]


def _mutation_smarts(rng: np.random.Generator, mol: Chem.Mol) -> str:
    kind = rng.choice(7, p=[0.15, 0.14, 0.14, 0.14, 0.14, 0.14, 0.15])
    if kind == 0:  # insert an atom into a bond
        bond = rng.choice(3, p=[0.6, 0.35, 0.05])
        atom = _choice(rng, [["C", "N", "S"], ["C", "N"], ["C"]][bond])
        return [
            f"[*:1]~[*:2]>>[*:1]{atom}[*:2]",
            f"[*;!H0:1]~[*:2]>>[*:1]={atom}-[*:2]",
            f"[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#{atom}-[*:2]",
        ][bond]
    if kind == 1:
        return _choice(
            rng,
            [
                "[*:1]!-[*:2]>>[*:1]-[*:2]",
                "[*;!H0:1]-[*;!H0:2]>>[*:1]=[*:2]",
                "[*:1]#[*:2]>>[*:1]=[*:2]",
                "[*;!R;!H1;!H0:1]~[*:2]>>[*:1]#[*:2]",
            ],
            [0.45, 0.45, 0.05, 0.05],
        )
    if kind == 2:
        return "[*:1]@[*:2]>>([*:1].[*:2])"
    if kind == 3:
        return _choice(
            rng,
            [
                "[*;!r;!H0:1]~[*;!r:2]~[*;!r;!H0:3]>>[*:1]1~[*:2]~[*:3]1",
                "[*;!r;!H0:1]~[*!r:2]~[*!r:3]~[*;!r;!H0:4]>>[*:1]1~[*:2]~[*:3]~[*:4]1",
                "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*;!r;!H0:5]>>[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]1",
                "[*;!r;!H0:1]~[*!r:2]~[*:3]~[*:4]~[*!r:5]~[*;!r;!H0:6]>>"
                "[*:1]1~[*:2]~[*:3]~[*:4]~[*:5]~[*:6]1",
            ],
            [0.05, 0.05, 0.45, 0.45],
        )
    if kind == 4:
        return _choice(
            rng,
            [
                "[*:1]~[D1:2]>>[*:1]",
                "[*:1]~[D2:2]~[*:3]>>[*:1]-[*:3]",
                "[*:1]~[D3:2](~[*;!H0:3])~[*:4]>>[*:1]-[*:3]-[*:4]",
                "[*:1]~[D4:2](~[*;!H0:3])(~[*;!H0:4])~[*:5]>>[*:1]-[*:3]-[*:4]-[*:5]",
                "[*:1]~[D4:2](~[*;!H0;!H1:3])~[*:4]>>[*:1]-[*:3](-[*:4])",
            ],
            [0.25, 0.25, 0.25, 0.1875, 0.0625],
        )
    if kind == 5:  # change an element present in the molecule into another
        elements = ["#6", "#7", "#8", "#9", "#16", "#17", "#35"]
        present = [e for e in elements if mol.HasSubstructMatch(Chem.MolFromSmarts(f"[{e}]"))]
        old = _choice(rng, present or ["#6"])
        new = _choice(rng, [e for e in elements if e != old])
        return f"[{old}:1]>>[{new}:1]"
    bond = rng.choice(3, p=[0.6, 0.35, 0.05])  # append an atom
    atom = _choice(rng, [["C", "N", "O", "F", "S", "Cl", "Br"], ["C", "N", "O"], ["C", "N"]][bond])
    return [f"[*;!H0:1]>>[*:1]{atom}", f"[*;!H0;!H1:1]>>[*:1]={atom}", f"[*;H3:1]>>[*:1]#{atom}"][
        bond
    ]


def mutate(mol: Chem.Mol, rng: np.random.Generator, max_atoms: int = 60) -> Chem.Mol | None:
    """One random graph mutation (ten tries), or None."""
    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    with without_rdkit_log():
        for _ in range(10):
            reaction = AllChem.ReactionFromSmarts(_mutation_smarts(rng, mol))
            products = [p[0] for p in reaction.RunReactants((mol,)) if _ok(p[0], max_atoms)]
            if products:
                return products[rng.integers(len(products))]
    return None


def _cut(mol: Chem.Mol, rng: np.random.Generator) -> tuple[Chem.Mol, ...] | None:
    matches = mol.GetSubstructMatches(_NON_RING_SINGLE)
    if not matches:
        return None
    a, b = matches[rng.integers(len(matches))]
    bond = mol.GetBondBetweenAtoms(a, b).GetIdx()
    pieces = Chem.FragmentOnBonds(mol, [bond], addDummies=True, dummyLabels=[(1, 1)])
    try:
        return Chem.GetMolFrags(pieces, asMols=True, sanitizeFrags=True)
    except (ValueError, RuntimeError):
        return None


def crossover(
    a: Chem.Mol, b: Chem.Mol, rng: np.random.Generator, max_atoms: int = 60
) -> Chem.Mol | None:
    """Join a random half of ``a`` with a random half of ``b`` at acyclic single bonds."""
    a, b = Chem.Mol(a), Chem.Mol(b)
    Chem.Kekulize(a, clearAromaticFlags=True)
    Chem.Kekulize(b, clearAromaticFlags=True)
    with without_rdkit_log():
        for _ in range(10):
            halves_a, halves_b = _cut(a, rng), _cut(b, rng)
            if halves_a is None or halves_b is None:
                return None
            children = [_JOIN.RunReactants((x, y))[0][0] for x in halves_a for y in halves_b]
            children = [c for c in children if _ok(c, max_atoms)]
            if children:
                return children[rng.integers(len(children))]
    return None


def offspring(
    parents: Sequence[Chem.Mol],
    scores: np.ndarray,
    n: int,
    rng: np.random.Generator,
    use_crossover: bool,
    mutation_rate: float = 0.5,
    max_tries: int = 20,
) -> list[str]:
    """Up to ``n`` new unique SMILES from score-proportional parents (GB_GA's mating pool)."""
    weights = np.asarray(scores, dtype=float) - np.min(scores) + 1e-6
    weights /= weights.sum()
    known = {Chem.MolToSmiles(m) for m in parents}
    children: list[str] = []
    for _ in range(n * max_tries):
        if len(children) == n:
            break
        a, b = (parents[i] for i in rng.choice(len(parents), 2, p=weights))
        child = crossover(a, b, rng) if use_crossover else a
        if child is not None and (not use_crossover or rng.random() < mutation_rate):
            child = mutate(child, rng)
        if child is None:
            continue
        smiles = Chem.MolToSmiles(child)
        if smiles not in known and Chem.MolFromSmiles(smiles) is not None:
            known.add(smiles)
            children.append(smiles)
    return children


def graph_ga(
    seeds: Sequence[str],
    seed_scores: np.ndarray,
    oracle: Callable[[str], float] | None,
    n_molecules: int,
    rng: np.random.Generator,
    generations: int = 5,
) -> list[str]:
    """``n_molecules`` new molecules from a population seeded with scored demonstrations.

    Without an oracle, one round of mutations of score-weighted seeds (no selection
    beyond the given scores). With one, ``generations`` rounds of crossover + mutation,
    each scoring its children with the oracle (``n_molecules`` calls in all) and keeping
    the best ``len(seeds)`` of population and children.
    """
    population = [Chem.MolFromSmiles(s) for s in seeds]
    scores = np.asarray(seed_scores, dtype=float)
    if oracle is None:
        return offspring(population, scores, n_molecules, rng, use_crossover=False)
    made: list[str] = []
    for generation in range(generations):
        quota = (n_molecules - len(made)) // (generations - generation)
        children = offspring(population, scores, quota, rng, use_crossover=True)
        made += children
        child_scores = np.array([oracle(s) for s in children])
        pool = population + [Chem.MolFromSmiles(s) for s in children]
        pool_scores = np.concatenate([scores, child_scores])
        keep = np.argsort(-pool_scores)[: len(seeds)]
        population, scores = [pool[i] for i in keep], pool_scores[keep]
    return made
