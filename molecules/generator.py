"""`DemonstrationGenerator`: (SMILES, score) demonstrations in, better molecules out."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import softmax
from tqdm.auto import tqdm

from molecules.checkpoint import MOTIFS, TOKENS, bundled_generator, load_generator
from molecules.chem import canonical_smiles
from molecules.context import TokenIndex, make_context, normalise_scores
from molecules.motifs import MotifVocabulary
from molecules.sampling import denoise_sequences, sample_sequences
from molecules.surrogate import DemonstrationSurrogate
from molecules.tokenizer import MotifTokenizer


class DemonstrationGenerator:
    """Generate molecules like the best demonstrations and unlike the worst, in one pass.

    The bundled network reads the demonstrations (motif tokens and their scores,
    normalised over the demonstrations) and samples new molecules conditioned on a
    high score. Most samples start from part of a demonstration's motif tree (drawn
    with weight ``exp(2 z)`` for a demonstration ``z`` standard deviations above the
    mean) and the network completes it; a surrogate fitted to the demonstrations
    (:class:`molecules.surrogate.DemonstrationSurrogate`) then keeps the most
    promising of ``candidates_per_sample`` candidates per molecule returned. No oracle
    is called and the network is not trained.

    Parameters
    ----------
    model_path : str, optional
        Checkpoint directory (``python -m molecules export``); the bundled one by default.
    temperature : float
        Softmax temperature of sampling: lower is closer to the demonstrations. Above
        1, completions of demonstrations vary more; the surrogate filters the worse.
    target_score : float, optional
        Score, in standard deviations of the demonstrations' scores from their mean,
        that the generated molecules are conditioned on; by default the best
        demonstration's.
    prefix_share : float
        Share of the samples that start from part of a demonstration; the others are
        generated from scratch.
    candidates_per_sample : int
        Candidates sampled per molecule returned; 1 returns the first ones found.
    max_rounds : int
        Sampling rounds at most when duplicates or failures leave fewer than
        ``n_samples * candidates_per_sample`` candidates.
    backend : {"torch", "onnx"}
        "onnx" runs the graphs :func:`molecules.onnx.export_onnx` wrote into the
        checkpoint directory with onnxruntime; the same seed gives the same molecules
        as "torch" (the sampling loop and its draws are shared).

    Examples
    --------
    >>> demos = [("CCO", 0.1), ("c1ccccc1O", 0.8), ("CC(=O)Nc1ccc(O)cc1", 0.9)]
    >>> out = DemonstrationGenerator().generate(demos, n_samples=5, random_state=0)
    >>> len(out)
    5
    """

    def __init__(
        self,
        model_path: str | None = None,
        temperature: float = 1.2,
        target_score: float | None = None,
        prefix_share: float = 1.0,
        candidates_per_sample: int = 3,
        max_rounds: int = 10,
        backend: str = "torch",
    ) -> None:
        self.model_path = model_path
        self.temperature = temperature
        self.target_score = target_score
        self.prefix_share = prefix_share
        self.candidates_per_sample = candidates_per_sample
        self.max_rounds = max_rounds
        self.backend = backend

    def _load(self) -> None:
        """``decoder_`` behind ``backend``, ``index_`` and ``tokenizer_``, on first use."""
        if hasattr(self, "decoder_"):
            return
        directory = Path(self.model_path or bundled_generator())
        if self.backend == "onnx":
            from molecules.onnx import OnnxDecoder

            self.decoder_ = OnnxDecoder(directory)
            self.index_ = TokenIndex.load(directory / TOKENS)
            self.tokenizer_ = MotifTokenizer(MotifVocabulary.load(directory / MOTIFS))
        elif self.backend == "torch":
            from molecules.model import TorchDecoder, TorchDenoiser  # torch only here

            generator = load_generator(directory)
            diffusion = generator.model.config.objective == "masked_diffusion"
            self.decoder_ = (TorchDenoiser if diffusion else TorchDecoder)(generator.model)
            self.index_, self.tokenizer_ = generator.index, generator.tokenizer
        else:
            raise ValueError(f"backend={self.backend!r}: use 'torch' or 'onnx'")

    def generate(
        self,
        demos: pd.DataFrame | Sequence[tuple[str, float]],
        n_samples: int = 100,
        random_state: int | None = None,
        invalid: str = "raise",
        progress: bool | None = None,
    ) -> pd.DataFrame:
        """Sample ``n_samples`` valid, unique molecules conditioned on ``demos``.

        Parameters
        ----------
        demos : DataFrame with columns ``smiles`` and ``score``, or sequence of (smiles, score)
            At least two demonstrations; higher scores are better.
        n_samples : int
            Molecules to return (fewer only if ``max_rounds`` rounds do not find them).
        random_state : int, optional
            Seed; the same seed and demonstrations give the same molecules.
        invalid : {"raise", "skip"}
            What to do with demonstrations RDKit cannot read: raise a ValueError that
            lists them, or leave them out with a warning.
        progress : bool, optional
            Show a progress bar; by default only on a terminal.

        Returns
        -------
        DataFrame
            New molecules (none is a demonstration), best predicted first: ``smiles``
            (canonical), ``predicted_score`` (the surrogate's, in standard deviations of
            the demonstrations' scores), ``similarity`` (Tanimoto to the nearest
            demonstration) and ``round`` (sampling round that found it). ``attrs`` holds
            ``sampled``, ``rounds``, ``validity``, ``uniqueness`` and ``novelty`` of
            everything sampled.
        """
        if invalid not in ("raise", "skip"):
            raise ValueError(f"invalid={invalid!r}: use 'raise' or 'skip'")
        if not isinstance(n_samples, int | np.integer) or n_samples < 1:
            raise ValueError(f"n_samples={n_samples!r} must be a positive integer")
        self._check_params()
        self._load()
        smiles, scores = self._read_demos(demos, invalid)
        rng = np.random.default_rng(random_state)
        order = rng.permutation(len(smiles))  # the network saw demonstrations in random order
        rootings = [self.tokenizer_.rootings(molecule) for molecule in smiles]
        ids = [self.index_.encode(self.tokenizer_, smiles[i], rootings[i][0]) for i in order]
        normalised = normalise_scores(scores)
        context = make_context(ids, normalised[order])
        target = normalised.max() if self.target_score is None else self.target_score
        weights = softmax(2 * normalised)  # which demonstrations samples start from
        readings = self._readings(rootings)
        sizes = [len(molecule_rootings[0]) for molecule_rootings in rootings]
        known = set(smiles)
        wanted = n_samples * self.candidates_per_sample
        found: dict[str, int] = {}  # new molecule -> round
        distinct: set[str] = set()  # every valid molecule sampled, demonstrations too
        sampled = valid = 0
        show = None if progress is None else not progress  # None: tqdm decides (a terminal)
        bar = tqdm(total=wanted, desc="candidates", disable=show)
        for round_ in range(self.max_rounds):
            batch = max(16, int(1.2 * (wanted - len(found))))
            prefixes, lengths = self._prefixes(readings, sizes, weights, batch, rng)
            sequences = self._sample(context, target, rng, prefixes, lengths)
            sampled += batch
            for sequence in sequences:
                molecule = self._decode(sequence)
                if molecule is None:
                    continue
                valid += 1
                distinct.add(molecule)
                if molecule not in known and molecule not in found and len(found) < wanted:
                    found[molecule] = round_
                    bar.update(1)
            if len(found) == wanted:
                break
        bar.close()
        candidates = list(found)
        surrogate = DemonstrationSurrogate().fit(smiles, scores)
        predicted, similarity = surrogate.predict(candidates, return_similarity=True)
        best = np.argsort(-predicted, kind="stable")[:n_samples]
        chosen = [candidates[i] for i in best]
        out = pd.DataFrame(
            {
                "smiles": chosen,
                "predicted_score": predicted[best],
                "similarity": similarity[best],
                "round": [found[m] for m in chosen],
            }
        )
        out.attrs = {
            "sampled": sampled,
            "rounds": round_ + 1,
            "validity": valid / sampled,
            "uniqueness": len(distinct) / max(valid, 1),
            "novelty": len(distinct - known) / max(len(distinct), 1),
        }
        return out

    def _sample(
        self,
        context: dict,
        target: float,
        rng: np.random.Generator,
        prefixes: list[list[int]],
        lengths: list[int],
    ) -> list[list[int] | None]:
        network, index, temperature = self.decoder_, self.index_, self.temperature
        if network.config.objective == "masked_diffusion":
            return denoise_sequences(
                network, index, context, target, lengths, rng, temperature, prefixes
            )
        return sample_sequences(
            network, index, context, target, len(prefixes), rng, temperature, prefixes
        )

    def _check_params(self) -> None:
        if not 0 <= self.prefix_share <= 1:
            raise ValueError(f"prefix_share={self.prefix_share!r} must be in [0, 1]")
        per_sample = self.candidates_per_sample
        if not isinstance(per_sample, int | np.integer) or per_sample < 1:
            raise ValueError(f"candidates_per_sample={per_sample!r} must be a positive integer")

    def _readings(self, rootings: list[list[list[str]]]) -> list[list[list[int] | None]]:
        """Per demonstration, the token ids of its readings from each root motif; None for
        a reading with a token the index lacks (the index holds the tokens of canonical
        readings, so other roots often have one) or too long for the network."""
        readings = []
        for molecule_rootings in rootings:
            readings.append([])
            for tokens in molecule_rootings:
                ids = [self.index_.id.get(token) for token in tokens]
                fits = None not in ids and 2 <= len(ids) < self.decoder_.config.max_motifs
                readings[-1].append(ids if fits else None)
        return readings

    def _prefixes(
        self,
        readings: list[list[list[int] | None]],
        sizes: list[int],
        weights: np.ndarray,
        n_samples: int,
        rng: np.random.Generator,
    ) -> tuple[list[list[int]], list[int]]:
        """Per sample, the first tokens of a reading of a demonstration, or none, and a length.

        The demonstration is drawn by ``weights``, then one of its readings, cut after a
        random number of tokens: a prefix is a connected part of the demonstration and
        the network fills in the rest. Where the reading is None the sample starts from
        scratch; drawing only among the usable readings measured worse, as their
        prefixes then repeat more often. The length, the demonstration's number of
        tokens (``sizes``), is what a masked-diffusion network fills in.
        """
        prefixes, lengths = [], []
        longest = self.decoder_.config.max_motifs - 1
        for _ in range(n_samples):
            demo, pick, cut_at = rng.choice(len(readings), p=weights), rng.random(), rng.random()
            ids = readings[demo][int(pick * len(readings[demo]))]
            lengths.append(min(longest, sizes[demo]))
            if rng.random() >= self.prefix_share or ids is None:
                prefixes.append([])
                continue
            prefixes.append(ids[: 1 + int(cut_at * (len(ids) - 1))])
        return prefixes, lengths

    def _decode(self, sequence: list[int] | None) -> str | None:
        if sequence is None:
            return None
        try:
            return self.tokenizer_.detokenize(self.index_.decode(sequence))
        except ValueError:
            return None

    @staticmethod
    def _read_demos(
        demos: pd.DataFrame | Sequence[tuple[str, float]], invalid: str
    ) -> tuple[list[str], np.ndarray]:
        """Canonical SMILES and float scores of the readable demonstrations."""
        if isinstance(demos, pd.DataFrame):
            missing = {"smiles", "score"} - set(demos.columns)
            if missing:
                raise ValueError(
                    f"demos lacks the column(s) {sorted(missing)}: pass a DataFrame with "
                    "columns 'smiles' and 'score', or a list of (smiles, score) pairs"
                )
            pairs = list(zip(demos["smiles"], demos["score"], strict=True))
        else:
            pairs = list(demos)
        try:
            scores = np.array([float(score) for _, score in pairs])
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"demos must be (smiles, score) pairs with numeric scores: {error}"
            ) from error
        if not np.isfinite(scores).all():
            bad = [i for i in range(len(scores)) if not np.isfinite(scores[i])]
            raise ValueError(f"demos rows {bad} have a missing or infinite score")
        canonical = [canonical_smiles(s) for s, _ in pairs]
        canonical = [None if c is None or "." in c else c for c in canonical]
        bad = [(i, pairs[i][0]) for i, c in enumerate(canonical) if c is None]
        if bad:
            listing = ", ".join(f"row {i}: {s!r}" for i, s in bad)
            if invalid == "raise":
                raise ValueError(
                    f"{len(bad)} demonstration(s) are not valid SMILES of one molecule "
                    f"({listing}); fix them or pass invalid='skip' to leave them out"
                )
            warnings.warn(f"left out {len(bad)} invalid demonstration(s): {listing}", stacklevel=3)
        keep = [i for i, c in enumerate(canonical) if c is not None]
        if len(keep) < 2:
            raise ValueError(f"at least 2 valid demonstrations are needed, got {len(keep)}")
        return [canonical[i] for i in keep], scores[keep]
