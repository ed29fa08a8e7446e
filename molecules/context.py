"""Token ids and contexts: what the network reads, shared by training and generation.

Shapes: ``T`` tokens of one context, ``V`` tokens in the index.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rdkit import Chem

from molecules.tokenizer import MotifTokenizer, token_attachments

PAD, UNK, BOS = "<pad>", "<unk>", "<bos>"
SPECIAL = (PAD, UNK, BOS)
IGNORE = -100  # cross-entropy's ignore_index


class TokenIndex:
    """Motif tokens <-> ids, with the attachment tables that constrain sampling.

    Parameters
    ----------
    tokens : sequence of str
        Motif tokens; ids 0, 1, 2 are ``<pad>``, ``<unk>`` and ``<bos>``.

    Attributes
    ----------
    parent_kind : ndarray of shape (V,)
        Bond type (1 single, 2 double, 3 triple) to the parent, 0 for root tokens and
        -1 for the special tokens, which are never sampled.
    n_children : ndarray of shape (V,)
        Attachments each token opens.
    """

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = [*SPECIAL, *(t for t in tokens if t not in SPECIAL)]
        self.id = {token: i for i, token in enumerate(self.tokens)}
        attachments = [token_attachments(t) for t in self.tokens[len(SPECIAL) :]]
        self.children = [(), (), (), *(children for _, children in attachments)]
        self.parent_kind = np.array([-1, -1, -1, *(parent for parent, _ in attachments)])
        self.n_children = np.array([len(c) for c in self.children])

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def from_corpus(cls, tokenized: Iterable[Sequence[str]], min_count: int) -> TokenIndex:
        """Tokens seen at least ``min_count`` times, most frequent first."""
        counts = Counter(token for tokens in tokenized for token in tokens)
        return cls([t for t, c in counts.most_common() if c >= min_count])

    def encode(
        self, tokenizer: MotifTokenizer, smiles: str, tokens: Sequence[str] | None = None
    ) -> list[int]:
        """Ids of the motif tokens of ``smiles``, falling back to smaller units.

        When the index lacks a token, the molecule is tokenised again into base units
        (ring systems and atoms), then without stereo, merged and into base units;
        a token still unknown becomes ``<unk>``. ``tokens``: ``tokenizer.tokenize(smiles)``
        where the caller has it already.
        """
        if tokens is None:
            tokens = tokenizer.tokenize(smiles)  # raises on invalid SMILES
        if any(t not in self.id for t in tokens):
            flat = Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)
            for text, merge in ((smiles, False), (flat, True), (flat, False)):
                tokens = tokenizer.tokenize(text, merge=merge)
                if all(t in self.id for t in tokens):
                    break
        return [self.id.get(t, self.id[UNK]) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def save(self, path: str | Path) -> None:
        """One motif token per line (the special tokens are implied)."""
        Path(path).write_text("\n".join(self.tokens[len(SPECIAL) :]) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TokenIndex:
        return cls(Path(path).read_text().splitlines())


def normalise_scores(scores: np.ndarray) -> np.ndarray:
    """Scores of one context as z-scores (a constant context gives zeros)."""
    scores = np.asarray(scores, dtype=float)
    return (scores - scores.mean()) / max(scores.std(), 1e-6)


def make_context(molecules: Sequence[Sequence[int]], scores: Sequence[float]) -> dict:
    """One context: ``<bos>`` + token ids per molecule, each token tagged with its score.

    Returns arrays of shape (T,): ``tokens``, ``positions`` (inside the molecule),
    ``scores`` and ``target`` (the next token of the same molecule, else ``IGNORE``).
    """
    tokens, positions, token_scores, target = [], [], [], []
    for ids, score in zip(molecules, scores, strict=True):
        tokens += [SPECIAL.index(BOS), *ids]
        positions += range(len(ids) + 1)
        token_scores += [score] * (len(ids) + 1)
        target += [*ids, IGNORE]
    return {
        "tokens": np.array(tokens, dtype=np.int64),
        "positions": np.array(positions, dtype=np.int64),
        "scores": np.array(token_scores, dtype=np.float32),
        "target": np.array(target, dtype=np.int64),
    }
