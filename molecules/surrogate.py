"""What the demonstrations say about molecules they do not contain.

:class:`DemonstrationSurrogate` fits kernel ridge regression with the Tanimoto kernel
on Morgan fingerprints (the usual Gaussian-process kernel for molecules) to the
demonstrations' normalised scores. The generator samples more candidates than it
returns and keeps those the surrogate ranks highest: the demonstrations are the only
labels it uses, so no oracle is called.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator
from sklearn.kernel_ridge import KernelRidge

from molecules.context import normalise_scores

_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)


def fingerprints(smiles: Sequence[str]) -> list:
    """Morgan fingerprints (radius 2, 2,048 bits) of valid SMILES."""
    return [_MORGAN.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def tanimoto(rows: Sequence, columns: Sequence) -> np.ndarray:
    """(len(rows), len(columns)) Tanimoto similarities between two lists of fingerprints."""
    return np.array([DataStructs.BulkTanimotoSimilarity(f, columns) for f in rows])


class DemonstrationSurrogate:
    """Kernel ridge regression of normalised scores on Tanimoto similarity.

    Parameters
    ----------
    alpha : float
        Ridge penalty; the scores are z-scores, so 0.3 trusts each demonstration a
        little less than its neighbours together.
    """

    def __init__(self, alpha: float = 0.3) -> None:
        self.alpha = alpha

    def fit(self, smiles: Sequence[str], scores: np.ndarray) -> DemonstrationSurrogate:
        self.fingerprints_ = fingerprints(smiles)
        kernel = tanimoto(self.fingerprints_, self.fingerprints_)
        self.ridge_ = KernelRidge(alpha=self.alpha, kernel="precomputed")
        self.ridge_.fit(kernel, normalise_scores(scores))
        return self

    def predict(
        self, smiles: Sequence[str], return_similarity: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predicted normalised score of each molecule (0 is the demonstrations' mean).

        With ``return_similarity``, also each molecule's Tanimoto similarity to its
        nearest demonstration, from the same kernel row.
        """
        kernel = tanimoto(fingerprints(smiles), self.fingerprints_).reshape(len(smiles), -1)
        predicted = self.ridge_.predict(kernel) if len(smiles) else np.zeros(0)
        return (predicted, kernel.max(axis=1, initial=0.0)) if return_similarity else predicted
