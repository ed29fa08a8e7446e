"""Context tasks for the molecule generator: a corpus scored by RDKit property functions.

A *task* scores a pool of corpus molecules by one hidden objective: a property (QED,
logP, TPSA, weight, SA score, ring / donor / acceptor counts, ...) to raise or to
lower, the fingerprint similarity to a random anchor molecule, the presence of a
substructure, or a random desirability product of several properties. Everything a
task needs is computed once per corpus molecule (:func:`build_corpus`), so drawing a
task costs a few array operations.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem, DataStructs, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, Lipinski, rdFingerprintGenerator, rdMolDescriptors

from molecules.chem import to_mol
from molecules.context import TokenIndex
from molecules.tokenizer import MotifTokenizer

sys.path.append(str(Path(RDConfig.RDContribDir) / "SA_Score"))
import sascorer  # noqa: E402  (RDKit Contrib is not a package)

PROPERTIES = {
    "qed": QED.qed,
    "logp": Crippen.MolLogP,
    "tpsa": rdMolDescriptors.CalcTPSA,
    "molecular_weight": Descriptors.MolWt,
    "sa_score": sascorer.calculateScore,
    "rings": rdMolDescriptors.CalcNumRings,
    "aromatic_rings": rdMolDescriptors.CalcNumAromaticRings,
    "hbd": Lipinski.NumHDonors,
    "hba": Lipinski.NumHAcceptors,
    "rotatable_bonds": rdMolDescriptors.CalcNumRotatableBonds,
    "fraction_sp3": rdMolDescriptors.CalcFractionCSP3,
    "heavy_atoms": Chem.Mol.GetNumHeavyAtoms,
}
SUBSTRUCTURES = {
    name: Chem.MolFromSmarts(smarts)
    for name, smarts in {
        "carboxylic_acid": "C(=O)[OX2H1,OX1-]",
        "amide": "C(=O)N",
        "ester": "C(=O)O[#6]",
        "sulfonamide": "S(=O)(=O)N",
        "urea": "NC(=O)N",
        "primary_amine": "[NX3H2][CX4]",
        "tertiary_amine": "[NX3H0;!$(NC=O);!$(N-a)]([#6])([#6])[#6]",
        "hydroxyl": "[OX2H][CX4]",
        "phenol": "[OX2H]c",
        "ketone": "[#6][CX3](=O)[#6]",
        "nitrile": "C#N",
        "nitro": "[N+](=O)[O-]",
        "fluorine": "F",
        "chlorine": "Cl",
        "bromine": "Br",
        "trifluoromethyl": "C(F)(F)F",
        "benzene": "c1ccccc1",
        "pyridine": "n1ccccc1",
        "thiophene": "s1cccc1",
        "furan": "o1cccc1",
        "imidazole": "c1cnc[nH]1",
        "piperidine": "N1CCCCC1",
        "piperazine": "N1CCNCC1",
        "morpholine": "N1CCOCC1",
        "indole": "c1ccc2[nH]ccc2c1",
        "methoxy": "[CH3]O[#6]",
        "thioether": "[#6][SX2][#6]",
        "cyclopropyl": "C1CC1",
        "spiro_or_bridged": "[R3,R4]",
        "charged": "[+,-]",
    }.items()
}
FINGERPRINT_BITS = 2048
_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FINGERPRINT_BITS)
KINDS = ("property", "similarity", "substructure", "desirability")


@dataclass
class MoleculeCorpus:
    """Molecules with their token ids and everything tasks score them by.

    ``token_ids`` is flat with molecule ``i`` at ``offsets[i]:offsets[i + 1]``;
    ``properties`` is (N, len(PROPERTIES)) standardised over the corpus; ``substructures``
    (N, len(SUBSTRUCTURES)) bool; ``fingerprints`` (N, 2048 / 8) Morgan bits, packed.
    """

    smiles: np.ndarray
    token_ids: np.ndarray
    offsets: np.ndarray
    properties: np.ndarray
    substructures: np.ndarray
    fingerprints: np.ndarray

    def __len__(self) -> int:
        return len(self.smiles)

    def ids(self, i: int) -> np.ndarray:
        return self.token_ids[self.offsets[i] : self.offsets[i + 1]]

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **vars(self))

    @classmethod
    def load(cls, path: str | Path) -> MoleculeCorpus:
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{name: arrays[name] for name in arrays.files})


def build_corpus(
    smiles: list[str], tokenizer: MotifTokenizer, index: TokenIndex, max_tokens: int
) -> MoleculeCorpus:
    """Tokenise and score ``smiles``; molecules that are invalid, contain ``<unk>`` or
    need more than ``max_tokens`` tokens are left out."""
    kept, ids, properties, substructures, fingerprints = [], [], [], [], []
    unk = index.id["<unk>"]
    for text in smiles:
        mol = to_mol(text)
        if mol is None or len(Chem.GetMolFrags(mol)) > 1:
            continue
        tokens = index.encode(tokenizer, text)
        if unk in tokens or len(tokens) > max_tokens:
            continue
        kept.append(Chem.MolToSmiles(mol))
        ids.append(tokens)
        properties.append([function(mol) for function in PROPERTIES.values()])
        substructures.append([mol.HasSubstructMatch(q) for q in SUBSTRUCTURES.values()])
        bits = np.zeros(FINGERPRINT_BITS, dtype=np.uint8)
        DataStructs.ConvertToNumpyArray(_MORGAN.GetFingerprint(mol), bits)
        fingerprints.append(np.packbits(bits))
    properties = np.array(properties)
    properties = (properties - properties.mean(0)) / properties.std(0).clip(1e-6)
    return MoleculeCorpus(
        smiles=np.array(kept),
        token_ids=np.concatenate(ids).astype(np.int32),
        offsets=np.cumsum([0, *map(len, ids)]),
        properties=properties.astype(np.float32),
        substructures=np.array(substructures, dtype=bool),
        fingerprints=np.array(fingerprints),
    )


def tanimoto(fingerprints: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of packed fingerprints (N, bytes) to one (bytes,)."""
    both = np.unpackbits(fingerprints & anchor, axis=1).sum(1)
    either = np.unpackbits(fingerprints | anchor, axis=1).sum(1)
    return both / np.maximum(either, 1)


def sample_task(
    rng: np.random.Generator, corpus: MoleculeCorpus, n_molecules: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """A pool of ``n_molecules`` corpus indices, their scores and the task's kind."""
    kind = KINDS[rng.integers(len(KINDS))]
    pool = rng.choice(len(corpus), n_molecules, replace=False)
    P = corpus.properties.shape[1]
    if kind == "property":
        scores = rng.choice([-1.0, 1.0]) * corpus.properties[pool, rng.integers(P)]
    elif kind == "similarity":
        anchor = corpus.fingerprints[rng.integers(len(corpus))]
        # Random molecules are all far from the anchor: swap in some of its neighbours.
        n_near = rng.integers(0, n_molecules // 2 + 1)
        near = np.argsort(-tanimoto(corpus.fingerprints, anchor))[: 4 * n_near]
        pool[:n_near] = rng.choice(near, n_near, replace=False)
        pool = np.unique(pool)
        scores = tanimoto(corpus.fingerprints[pool], anchor)
    elif kind == "substructure":
        present = corpus.substructures[pool, rng.integers(corpus.substructures.shape[1])]
        tie_break = corpus.properties[pool, rng.integers(P)]
        scores = present + 0.2 * rng.choice([-1.0, 1.0]) * np.tanh(tie_break)
    else:
        chosen = rng.choice(P, rng.integers(2, 5), replace=False)
        signs = rng.choice([-1.0, 1.0], len(chosen))
        thresholds = rng.normal(0.0, 0.8, len(chosen))
        z = corpus.properties[np.ix_(pool, chosen)] * signs
        scores = np.prod(1 / (1 + np.exp(-2 * (z - thresholds))), axis=1)
    return pool, np.asarray(scores, dtype=float), kind
