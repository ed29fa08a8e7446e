"""SMILES <-> motif tree <-> a sequence of motif tokens, and back, exactly.

The units of :class:`~molecules.motifs.MotifVocabulary` form a tree (only acyclic bonds
join units). A *token* is one unit written as a SMILES fragment whose dummy atoms ``*``
stand for its attachments: the bond to the dummy carries the bond type, ``[1*]`` is the
attachment to the parent unit and the plain ``*`` are the children's, in the order the
canonical fragment SMILES writes them. A molecule is the pre-order walk of its tree
from a root unit, so a sequence decodes with a stack of open attachments: each token
fills the attachment on top of the stack and pushes its own. Any sequence that fills
every attachment with a token of the matching bond type is a valid molecule.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.resources import files
from pathlib import Path

from rdkit import Chem

from molecules.chem import to_mol, without_rdkit_log
from molecules.motifs import MotifVocabulary, Partition

BOND_TYPES = (None, Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
ROOT = 0  # "bond type" of the root's missing parent attachment


def bundled_vocabulary() -> Path:
    """The motif merges shipped in the package (see ``python -m molecules learn-vocab``)."""
    return Path(str(files("molecules") / "data" / "motifs.txt"))


def bundled_tokens() -> Path:
    """The motif tokens shipped beside the merges: what a new network is built over."""
    return bundled_vocabulary().with_name("tokens.txt")


def _fragments(mol: Chem.Mol, units: Partition) -> tuple[list[Chem.Mol], list[list[int]]]:
    """Each unit as a molecule whose dummy atoms (isotope = cut bond index + 1) mark cuts."""
    owner = {atom: i for i, unit in enumerate(units) for atom in unit}
    cuts = [
        b.GetIdx() for b in mol.GetBonds() if owner[b.GetBeginAtomIdx()] != owner[b.GetEndAtomIdx()]
    ]
    if not cuts:
        return [Chem.Mol(mol)], [list(range(mol.GetNumAtoms()))]
    labels = [(c + 1, c + 1) for c in cuts]
    pieces = Chem.FragmentOnBonds(mol, cuts, addDummies=True, dummyLabels=labels)
    atom_map: list[list[int]] = []
    frags = Chem.GetMolFrags(pieces, asMols=True, sanitizeFrags=False, fragsMolAtomMapping=atom_map)
    return list(frags), atom_map


def tree_tokens(mol: Chem.Mol, units: Partition, root: int = 0) -> list[str]:
    """The pre-order token sequence of ``mol`` cut into ``units``, starting at unit ``root``."""
    frags, _ = _fragments(mol, units)
    if len(frags) == 1:
        return [Chem.MolToSmiles(frags[0])]
    # cut bond -> the two fragments it joins
    ends: dict[int, list[int]] = {}
    for f, frag in enumerate(frags):
        for atom in frag.GetAtoms():
            if atom.GetAtomicNum() == 0 and atom.GetIsotope():
                ends.setdefault(atom.GetIsotope() - 1, []).append(f)
    tokens: list[str] = []
    stack: list[tuple[int, int | None]] = [(root % len(frags), None)]  # (fragment, cut in)
    while stack:
        f, cut_in = stack.pop()
        frag = Chem.Mol(frags[f])
        cut_of = {}
        for atom in frag.GetAtoms():
            if atom.GetAtomicNum() == 0 and atom.GetIsotope():
                cut_of[atom.GetIdx()] = atom.GetIsotope() - 1
                atom.SetIsotope(1 if atom.GetIsotope() - 1 == cut_in else 0)
        # Number the children's attachments 2, 3, ... in canonical order: distinct
        # labels keep the stereo of atoms with several attachments.
        ranks = Chem.CanonicalRankAtoms(frag, breakTies=True)
        children = sorted((a for a in cut_of if cut_of[a] != cut_in), key=ranks.__getitem__)
        for label, atom in enumerate(children, start=2):
            frag.GetAtomWithIdx(atom).SetIsotope(label)
        tokens.append(Chem.MolToSmiles(frag))
        for atom in reversed(children):
            (child,) = [g for g in ends[cut_of[atom]] if g != f]
            stack.append((child, cut_of[atom]))
    return tokens


def _one_molecule(smiles: str) -> Chem.Mol:
    mol = to_mol(smiles)
    if mol is None:
        raise ValueError(f"{smiles!r} is not a valid SMILES")
    if len(Chem.GetMolFrags(mol)) > 1:
        raise ValueError(f"{smiles!r} holds several molecules ('.'): pass one at a time")
    return mol


@cache
def _token_mol(token: str) -> Chem.Mol:
    mol = Chem.MolFromSmiles(token, sanitize=False)
    if mol is None:
        raise ValueError(f"{token!r} is not a motif token")
    return mol


def _attachments(mol: Chem.Mol) -> tuple[int | None, list[tuple[int, int]]]:
    """(parent dummy, [(child dummy, bond type)] in label order) of a token molecule."""
    parent, children = None, []
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() == 0:
            if atom.GetIsotope() == 1:
                parent = atom.GetIdx()
            else:
                kind = BOND_TYPES.index(atom.GetBonds()[0].GetBondType())
                children.append((atom.GetIsotope(), atom.GetIdx(), kind))
    return parent, [(atom, kind) for _, atom, kind in sorted(children)]


@cache
def token_attachments(token: str) -> tuple[int, tuple[int, ...]]:
    """(bond type to the parent, bond types to the children in order); 0 = root token."""
    mol = _token_mol(token)
    parent, children = _attachments(mol)
    kind = (
        ROOT
        if parent is None
        else BOND_TYPES.index(mol.GetAtomWithIdx(parent).GetBonds()[0].GetBondType())
    )
    return kind, tuple(kind for _, kind in children)


def join_tokens(tokens: Sequence[str]) -> str:
    """The canonical SMILES of a pre-order token sequence.

    Raises
    ------
    ValueError
        If the attachments do not match (a bond type differs, an attachment is left
        open or a token is left over) or RDKit cannot sanitise the result.
    """
    combined = Chem.RWMol()
    stack: list[tuple[int, int]] = []  # open attachments: (dummy atom, bond type)
    for position, token in enumerate(tokens):
        parent, _ = token_attachments(token)
        if position and not stack:
            raise ValueError(f"token {position} ({token!r}) follows a complete molecule")
        if stack:
            dummy, kind = stack.pop()
            if parent != kind:
                raise ValueError(f"token {position} ({token!r}) does not fit bond type {kind}")
            label = dummy + 1
            combined.GetAtomWithIdx(dummy).SetAtomMapNum(label)
        elif parent != ROOT:
            raise ValueError(f"the first token {token!r} is not a root token")
        offset = combined.GetNumAtoms()
        mol = _token_mol(token)
        combined.InsertMol(mol)
        parent_dummy, children = _attachments(mol)
        if parent_dummy is not None:
            combined.GetAtomWithIdx(offset + parent_dummy).SetAtomMapNum(label)
        stack.extend((offset + atom, kind) for atom, kind in reversed(children))
    if stack:
        raise ValueError(f"{len(stack)} attachments left open")
    with without_rdkit_log():
        mol = Chem.molzip(combined.GetMol())
        problem = Chem.SanitizeMol(mol, catchErrors=True)
    if problem != Chem.SanitizeFlags.SANITIZE_NONE:
        raise ValueError(f"the joined molecule fails RDKit sanitisation ({problem})")
    # Tokens are parsed unsanitised, so E/Z is still only bond directions: perceive it.
    Chem.AssignStereochemistry(mol, cleanIt=True, force=True)
    return Chem.MolToSmiles(mol)


class MotifTokenizer:
    """SMILES to motif tokens and back.

    Parameters
    ----------
    vocabulary : MotifVocabulary, optional
        Merge rules; the bundled ones by default.

    Examples
    --------
    >>> tokenizer = MotifTokenizer()
    >>> tokens = tokenizer.tokenize("CC(=O)Oc1ccccc1C(=O)O")
    >>> tokenizer.detokenize(tokens)
    'CC(=O)Oc1ccccc1C(=O)O'
    """

    def __init__(self, vocabulary: MotifVocabulary | None = None) -> None:
        self.vocabulary = vocabulary or MotifVocabulary.load(bundled_vocabulary())

    def tokenize(self, smiles: str, merge: bool = True, root: int = 0) -> list[str]:
        """Pre-order motif tokens of ``smiles`` from unit ``root`` (modulo the unit count).

        ``merge=False`` uses the base units (ring systems and single atoms) only.

        Raises
        ------
        ValueError
            If RDKit cannot read ``smiles`` or it holds several molecules.
        """
        mol = _one_molecule(smiles)
        return tree_tokens(mol, self.vocabulary.partition(mol, merge=merge), root)

    def rootings(self, smiles: str) -> list[list[str]]:
        """The tokens of ``smiles`` from each of its units as the root, in unit order:
        ``tokenize(smiles, root=r)`` for every ``r``, partitioned once."""
        mol = _one_molecule(smiles)
        units = self.vocabulary.partition(mol)
        return [tree_tokens(mol, units, root) for root in range(len(units))]

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Canonical SMILES of a token sequence (see :func:`join_tokens`)."""
        return join_tokens(tokens)

    def round_trip_report(self, smiles: Iterable[str]) -> dict:
        """Encode and decode each molecule; count atoms, tokens and failures by cause.

        A molecule fails when decoding raises or gives another canonical SMILES than
        RDKit's canonical SMILES of the input. Causes are ``invalid input``,
        ``decode error``, and ``mismatch`` split by whether the input has stereo.
        """
        failures: Counter[str] = Counter()
        examples: dict[str, str] = {}
        n_atoms = n_tokens = n_valid = 0
        for text in smiles:
            mol = to_mol(text)
            if mol is None:
                failures["invalid input"] += 1
                continue
            n_valid += 1
            tokens = tree_tokens(mol, self.vocabulary.partition(mol))
            n_atoms += mol.GetNumAtoms()
            n_tokens += len(tokens)
            try:
                same = join_tokens(tokens) == Chem.MolToSmiles(mol)
                cause = (
                    "mismatch (stereo)"
                    if "@" in text or "/" in text or "\\" in text
                    else "mismatch"
                )
            except ValueError:
                same, cause = False, "decode error"
            if not same:
                failures[cause] += 1
                examples.setdefault(cause, text)
        n_failed = sum(v for k, v in failures.items() if k != "invalid input")
        return {
            "molecules": n_valid,
            "failure_rate": n_failed / max(n_valid, 1),
            "failures": dict(failures),
            "failure_examples": examples,
            "atoms_per_molecule": n_atoms / max(n_valid, 1),
            "tokens_per_molecule": n_tokens / max(n_valid, 1),
            "compression": n_atoms / max(n_tokens, 1),
        }
