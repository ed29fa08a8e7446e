"""Motif tokenizer: exact round trips, compression, fallback, vocabulary learning."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

pytest.importorskip("rdkit")

from rdkit import Chem  # noqa: E402

from molecules.context import UNK, TokenIndex  # noqa: E402
from molecules.motifs import MotifVocabulary, base_units  # noqa: E402
from molecules.tokenizer import MotifTokenizer, join_tokens, token_attachments  # noqa: E402

ZINC = Path(__file__).resolve().parents[1].parent / "shared" / "molecules" / "zinc250k.smi.gz"
LITERALS = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "C[C@@H](N)C(=O)O",  # a stereocentre with three attachments
    "C[C@@H]1CC(Nc2cncc(-c3nncn3C)c2)C[C@@H](C)C1",  # ring stereo
    "C/C=C/C(=O)O",  # E/Z across motifs
    "CC/C=C\\c1ccccc1",
    "C[NH+]1CCN(c2ccc([N+](=O)[O-])cc2)CC1",  # charges
    "c1ccc2[nH]ccc2c1",  # aromatic N-H, one unit
    "N#Cc1ccccc1C#N",  # triple bonds
    "O=C1CC2(CCNCC2)C1",  # spiro ring system
]


@pytest.fixture(scope="module")
def tokenizer() -> MotifTokenizer:
    return MotifTokenizer()


@pytest.mark.parametrize("smiles", LITERALS)
def test_round_trip_is_exact(tokenizer, smiles):
    canonical = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    assert tokenizer.detokenize(tokenizer.tokenize(smiles)) == canonical
    assert tokenizer.detokenize(tokenizer.tokenize(smiles, merge=False)) == canonical
    for root in range(4):  # any unit may start the walk
        assert tokenizer.detokenize(tokenizer.tokenize(smiles, root=root)) == canonical


def test_ring_systems_and_stereo_bonds_are_units():
    mol = Chem.MolFromSmiles("CC/C=C/C1CC2(CC2)C1")
    # The stereo bond takes its neighbours, and a neighbour in a ring its ring system:
    # only the terminal methyl stays alone.
    assert sorted(len(u) for u in base_units(mol)) == [1, 9]
    assert sorted(len(u) for u in base_units(Chem.MolFromSmiles("CCC1CC2(CC2)C1"))) == [1, 1, 6]


def test_tokens_state_their_attachments(tokenizer):
    tokens = tokenizer.tokenize("CC(=O)N", merge=False)
    assert tokens[0].count("*") == token_attachments(tokens[0])[1].__len__()
    assert token_attachments("[1*]C([2*])=[3*]") == (1, (1, 2))
    assert token_attachments("c1ccccc1") == (0, ())


def test_bad_sequences_and_smiles_raise(tokenizer):
    with pytest.raises(ValueError, match="not a valid SMILES"):
        tokenizer.tokenize("C1CC")
    with pytest.raises(ValueError, match="several molecules"):
        tokenizer.tokenize("CC.O")
    with pytest.raises(ValueError, match="left open"):
        join_tokens(["[2*]C"])
    with pytest.raises(ValueError, match="does not fit bond type"):
        join_tokens(["[2*]C", "[1*]=O"])
    with pytest.raises(ValueError, match="not a root token"):
        join_tokens(["[1*]C"])


def test_unknown_motifs_fall_back_to_smaller_units(tokenizer):
    smiles = "CC(=O)Nc1ccc(O)cc1"
    base = tokenizer.tokenize(smiles, merge=False)
    index = TokenIndex(base)  # knows the base units only
    assert index.decode(index.encode(tokenizer, smiles)) == base
    partial = TokenIndex(base[1:])  # not even every base unit
    ids = partial.encode(tokenizer, smiles)
    assert ids[0] == partial.id[UNK] and len(ids) == len(base)


def test_learned_vocabulary_round_trips_and_merges(tmp_path):
    corpus = ["CCOC(=O)c1ccccc1", "CCOC(=O)c1ccncc1", "CCOC(=O)C1CC1", "CCN(CC)CC"] * 3
    vocabulary = MotifVocabulary.learn(corpus, n_merges=5)
    assert vocabulary.merges[0] == "CC"  # the most frequent adjacent pair
    vocabulary.save(tmp_path / "motifs.txt")
    loaded = MotifVocabulary.load(tmp_path / "motifs.txt")
    assert loaded.merges == vocabulary.merges and loaded.max_atoms == vocabulary.max_atoms
    tokenizer = MotifTokenizer(loaded)
    mol = Chem.MolFromSmiles(corpus[0])
    assert len(tokenizer.tokenize(corpus[0])) < len(base_units(mol))
    assert tokenizer.detokenize(tokenizer.tokenize(corpus[0])) == Chem.MolToSmiles(mol)


@pytest.mark.skipif(not ZINC.is_file(), reason="needs ../shared/molecules/zinc250k.smi.gz")
def test_zinc_round_trip_rate_and_compression(tokenizer):
    with gzip.open(ZINC, "rt") as file:
        sample = [line.split()[0] for line in itertools.islice(file, 300)]
    report = tokenizer.round_trip_report(sample)
    assert report["molecules"] == 300
    assert report["failure_rate"] == 0.0, report["failure_examples"]
    assert report["compression"] > 3.5  # atoms per motif token
