"""Design benchmark: new molecules from 50 scored demonstrations, against Graph GA.

``python -m benchmarks.molecules`` runs, per task and seed: draw a pool of ZINC
molecules, score it with the task's oracle (RDKit, offline), take 50 demonstrations
(20 from the pool's top 5%, 15 from its middle, 15 from its bottom) and compare

- ``best given``: the demonstrations themselves;
- ``random ZINC``: 100 other ZINC molecules;
- ``Graph GA (0 calls)``: 100 mutants of score-weighted demonstrations;
- ``Graph GA (100 calls)``: 5 generations of 20 children, selected with the oracle;
- ``ours``: :class:`molecules.DemonstrationGenerator`, 100 molecules, no oracle call.

Metrics on each method's molecules (the oracle scores them afterwards): top-1, top-10
mean, top-10 diversity (1 - mean pairwise Tanimoto, Morgan radius 2), their harmonic
mean (DemoDiff's summary), validity, uniqueness, novelty (not a demonstration) and
molecules per second. The tasks are GuacaMol-style objectives re-implemented with
RDKit (rediscovery, similarity, median and MPO tasks): none is a pretraining property.
Results go to ``benchmarks/results/molecules/`` (resumable cells, summary, PNG grid).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, DataStructs
from rdkit.Chem import Crippen, Draw, rdFingerprintGenerator, rdMolDescriptors

import molecules
from benchmarks.graph_ga import graph_ga
from benchmarks.reporting import (
    Metric,
    ResultStore,
    complete_datasets,
    environment,
    environment_markdown,
    package_source,
    summary_markdown,
)
from molecules.checkpoint import bundled_generator
from molecules.chem import read_smiles, to_mol
from molecules.context import UNK, TokenIndex
from molecules.generator import DemonstrationGenerator
from molecules.surrogate import DemonstrationSurrogate
from molecules.tokenizer import MotifTokenizer, bundled_tokens

RESULTS = Path(__file__).parent / "results" / "molecules"
ABLATION_RESULTS = RESULTS.with_name("molecules-ablation")
_MOLECULES_CODE = package_source(molecules)
_ECFP4 = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
_ECFP6 = rdFingerprintGenerator.GetMorganGenerator(radius=3, fpSize=2048)
_FCFP4 = rdFingerprintGenerator.GetMorganGenerator(
    radius=2,
    fpSize=2048,
    atomInvariantsGenerator=rdFingerprintGenerator.GetMorganFeatureAtomInvGen(),
)
_ATOM_PAIRS = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=2048)
DRUGS = {
    "celecoxib": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
    "aripiprazole": "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl",
    "albuterol": "CC(C)(C)NCC(O)c1ccc(O)c(CO)c1",
    "mestranol": "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
    "camphor": "CC1(C)C2CCC1(C)C(=O)C2",
    "menthol": "CC(C)C1CCC(C)CC1O",
    "osimertinib": "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
    "fexofenadine": "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",
    "ranolazine": "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",
    "perindopril": "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",
    "amlodipine": "Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC",
}


def similarity(drug: str, generator=_ECFP4) -> Callable[[Chem.Mol], float]:
    target = generator.GetFingerprint(Chem.MolFromSmiles(DRUGS[drug]))
    return lambda mol: DataStructs.TanimotoSimilarity(target, generator.GetFingerprint(mol))


def clipped(function: Callable[[Chem.Mol], float], upper: float) -> Callable[[Chem.Mol], float]:
    return lambda mol: min(function(mol) / upper, 1.0)


def gaussian(function: Callable[[Chem.Mol], float], mu: float, sigma: float, side: str = "both"):
    """1 at ``mu``, a Gaussian fall-off below (``side="max"``), above ("min") or both."""

    def score(mol: Chem.Mol) -> float:
        x = function(mol)
        if (side == "max" and x >= mu) or (side == "min" and x <= mu):
            return 1.0
        return float(np.exp(-0.5 * ((x - mu) / sigma) ** 2))

    return score


def geometric_mean(*functions: Callable[[Chem.Mol], float]) -> Callable[[Chem.Mol], float]:
    return lambda mol: float(np.prod([f(mol) for f in functions]) ** (1 / len(functions)))


def _count(smarts: str) -> Callable[[Chem.Mol], float]:
    pattern = Chem.MolFromSmarts(smarts)
    return lambda mol: len(mol.GetSubstructMatches(pattern))


TASKS: dict[str, Callable[[Chem.Mol], float]] = {
    "celecoxib_rediscovery": similarity("celecoxib"),
    "troglitazone_rediscovery": similarity("troglitazone"),
    "thiothixene_rediscovery": similarity("thiothixene"),
    "aripiprazole_similarity": clipped(similarity("aripiprazole"), 0.75),
    "albuterol_similarity": clipped(similarity("albuterol", _FCFP4), 0.75),
    "mestranol_similarity": clipped(similarity("mestranol", _ATOM_PAIRS), 0.75),
    "median_camphor_menthol": geometric_mean(similarity("camphor"), similarity("menthol")),
    "osimertinib_mpo": geometric_mean(
        clipped(similarity("osimertinib", _FCFP4), 0.8),
        gaussian(similarity("osimertinib", _ECFP6), 0.85, 0.2, "min"),
        gaussian(rdMolDescriptors.CalcTPSA, 100, 20, "max"),
        gaussian(Crippen.MolLogP, 1, 2, "min"),
    ),
    "fexofenadine_mpo": geometric_mean(
        clipped(similarity("fexofenadine", _ATOM_PAIRS), 0.8),
        gaussian(rdMolDescriptors.CalcTPSA, 90, 20, "max"),
        gaussian(Crippen.MolLogP, 4, 2, "min"),
    ),
    "ranolazine_mpo": geometric_mean(
        clipped(similarity("ranolazine", _ATOM_PAIRS), 0.7),
        gaussian(Crippen.MolLogP, 7, 2, "max"),
        gaussian(rdMolDescriptors.CalcTPSA, 95, 20, "max"),
        gaussian(_count("F"), 1, 1),
    ),
    "perindopril_mpo": geometric_mean(
        similarity("perindopril"), gaussian(rdMolDescriptors.CalcNumAromaticRings, 2, 0.5)
    ),
    "amlodipine_mpo": geometric_mean(
        similarity("amlodipine"), gaussian(rdMolDescriptors.CalcNumRings, 3, 0.5)
    ),
}
MODELS = ("best given", "random ZINC", "Graph GA (0 calls)", "Graph GA (100 calls)", "ours")
# --ablation: what each step of ours adds, and the surrogate on Graph GA's mutants.
OURS = {  # model -> DemonstrationGenerator settings
    "ours": {},
    "ours, no surrogate": {"candidates_per_sample": 1},
    "ours, no prefixes": {"prefix_share": 0.0},
    "ours, network only": {"prefix_share": 0.0, "candidates_per_sample": 1},
    "ours, network only, T 1.0": {
        "prefix_share": 0.0,
        "candidates_per_sample": 1,
        "temperature": 1.0,
    },
}
ABLATION = (*OURS, "Graph GA (0 calls) + surrogate")
METRICS = [
    Metric("harmonic", True),
    Metric("top1", True),
    Metric("top10", True),
    Metric("diversity", True),
    Metric("validity", True),
    Metric("uniqueness", True),
    Metric("novelty", True),
    Metric("molecules_per_s", True),
]
COLUMNS = [
    "dataset", "fold", "model", "model_version", "error",
    *[m.name for m in METRICS], "n_molecules", "best_smiles", "best_score",
]  # fmt: skip


def score_all(oracle: Callable[[Chem.Mol], float], smiles: list[str]) -> np.ndarray:
    return np.array([oracle(Chem.MolFromSmiles(s)) for s in smiles])


def design_metrics(smiles: list[str], scores: np.ndarray, n_attempted: int, demos: set) -> dict:
    """Top-1, top-10 mean, top-10 diversity, their harmonic mean and the sample quality."""
    order = np.argsort(-scores)[:10]
    top = [_ECFP4.GetFingerprint(Chem.MolFromSmiles(smiles[i])) for i in order]
    similarities = [DataStructs.BulkTanimotoSimilarity(f, top[i + 1 :]) for i, f in enumerate(top)]
    pairs = np.concatenate(similarities) if len(top) > 1 else np.array([1.0])
    top1, top10, diversity = scores[order[0]], scores[order].mean(), 1 - pairs.mean()
    parts = np.array([top1, top10, diversity])
    harmonic = 0.0 if (parts <= 0).any() else len(parts) / (1 / parts).sum()
    return {
        "harmonic": harmonic,
        "top1": top1,
        "top10": top10,
        "diversity": diversity,
        "validity": len(smiles) / max(n_attempted, 1),
        "uniqueness": len(set(smiles)) / max(len(smiles), 1),
        "novelty": float(np.mean([s not in demos for s in smiles])),
        "n_molecules": len(smiles),
        "best_smiles": smiles[order[0]],
        "best_score": top1,
    }


def draw_demonstrations(rng: np.random.Generator, scores: np.ndarray) -> np.ndarray:
    """20 of the top 5%, 15 of the middle (40-60%) and 15 of the bottom half of a pool."""
    order = np.argsort(-scores)
    n = len(order)
    top, middle, bottom = order[: n // 20], order[2 * n // 5 : 3 * n // 5], order[n // 2 :]
    return np.concatenate(
        [rng.choice(top, 20, False), rng.choice(middle, 15, False), rng.choice(bottom, 15, False)]
    )


@dataclass
class Setting:
    """What every method of one (task, seed) sees: demonstrations and other molecules."""

    demos: list[str]
    demo_scores: np.ndarray
    others: list[str]


def make_setting(task: str, seed: int, zinc: list[str]) -> Setting:
    """Score a pool of 2,000 ZINC molecules and draw 50 demonstrations from it."""
    rng = np.random.default_rng([seed, sorted(TASKS).index(task)])
    picked = rng.choice(len(zinc), 2100, replace=False)
    pool, others = [zinc[i] for i in picked[:2000]], [zinc[i] for i in picked[2000:]]
    pool_scores = score_all(TASKS[task], pool)
    chosen = draw_demonstrations(rng, pool_scores)
    return Setting([pool[i] for i in chosen], pool_scores[chosen], others)


def run_cell(
    task: str,
    seed: int,
    model: str,
    setting: Setting,
    generators: dict[str, DemonstrationGenerator],
) -> dict:
    """One (task, seed, method) cell."""
    oracle = TASKS[task]
    rng = np.random.default_rng(
        [seed, sorted(TASKS).index(task), (*MODELS, *ABLATION).index(model)]
    )
    start = time.perf_counter()
    attempted = 100
    if model == "best given":
        smiles, attempted = setting.demos, len(setting.demos)
    elif model == "random ZINC":
        smiles = setting.others
    elif model in OURS:
        demos = list(zip(setting.demos, setting.demo_scores, strict=True))
        out = generators[model].generate(demos, 100, random_state=seed)
        smiles = list(out["smiles"])
    elif model == "Graph GA (0 calls) + surrogate":  # as ours keeps 1 in 3 candidates
        mutants = graph_ga(setting.demos, setting.demo_scores, None, 300, rng)
        mutants = list(dict.fromkeys(Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in mutants))
        surrogate = DemonstrationSurrogate().fit(setting.demos, setting.demo_scores)
        smiles = [mutants[i] for i in np.argsort(-surrogate.predict(mutants))[:100]]
    else:
        scorer = (lambda s: oracle(Chem.MolFromSmiles(s))) if "100" in model else None
        smiles = graph_ga(setting.demos, setting.demo_scores, scorer, 100, rng)
        smiles = [Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in smiles]
    elapsed = time.perf_counter() - start
    valid = [s for s in smiles if to_mol(s) is not None]
    row = design_metrics(valid, score_all(oracle, valid), attempted, set(setting.demos))
    row["molecules_per_s"] = len(valid) / elapsed if model not in MODELS[:2] else np.nan
    if model in OURS:  # it returns only valid unique molecules: report what it sampled
        row["validity"], row["uniqueness"] = out.attrs["validity"], out.attrs["uniqueness"]
    return row


def tokenizer_report(zinc: list[str], n: int, seed: int) -> dict:
    """Round-trip failure rate and compression of the bundled tokenizer on ``n`` molecules,
    and the share the bundled token index covers without ``<unk>``."""
    rng = np.random.default_rng(seed)
    sample = [zinc[i] for i in rng.choice(len(zinc), n, replace=False)]
    tokenizer, index = MotifTokenizer(), TokenIndex.load(bundled_tokens())
    report = tokenizer.round_trip_report(sample)
    unknown = index.id[UNK]
    report["token_index_coverage"] = float(
        np.mean([unknown not in index.encode(tokenizer, s) for s in sample])
    )
    return report


def best_molecules_grid(results: pd.DataFrame, models: Sequence[str], path: Path) -> None:
    """One row per task: the best molecule of each method, with its score."""
    rows = results[(results["fold"] == results["fold"].min()) & (results["error"] == "")]
    mols, legends = [], []
    for task in rows["dataset"].unique():
        for model in models:
            cell = rows[(rows["dataset"] == task) & (rows["model"] == model)]
            if len(cell):
                mols.append(Chem.MolFromSmiles(cell["best_smiles"].iloc[0]))
                legends.append(f"{task[:18]} | {model[:16]} | {cell['best_score'].iloc[0]:.3f}")
            else:
                mols.append(Chem.Mol())
                legends.append("")
    image = Draw.MolsToGridImage(
        mols, molsPerRow=len(models), subImgSize=(260, 220), legends=legends
    )
    image.save(path)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.molecules")
    parser.add_argument("--tasks", nargs="*", default=sorted(TASKS))
    parser.add_argument("--models", nargs="*", default=None, choices=(*MODELS, *ABLATION))
    parser.add_argument(
        "--ablation",
        action="store_true",
        help=f"run {', '.join(ABLATION)} into {ABLATION_RESULTS}",
    )
    parser.add_argument("--seeds", type=int, default=1, help="repetitions per task")
    parser.add_argument("--zinc", default="../shared/molecules/zinc250k.smi.gz")
    parser.add_argument("--tokenizer-molecules", type=int, default=10000)
    parser.add_argument("--model-path", default=None, help="generator checkpoint directory")
    parser.add_argument("--out", default=None, help=f"default {RESULTS} ({ABLATION_RESULTS})")
    options = parser.parse_args(args)
    suite = ABLATION if options.ablation else MODELS
    models = options.models or list(suite)
    out = Path(options.out or (ABLATION_RESULTS if options.ablation else RESULTS))
    out.mkdir(parents=True, exist_ok=True)
    zinc = read_smiles(options.zinc)
    report_path = out / "tokenizer.json"
    if options.tokenizer_molecules and not report_path.exists():
        report = tokenizer_report(zinc, options.tokenizer_molecules, seed=0)
        report_path.write_text(json.dumps(report, indent=2) + "\n")
    generators = {m: DemonstrationGenerator(options.model_path, **OURS[m]) for m in OURS}
    weights = Path(options.model_path or bundled_generator()) / "model.safetensors"
    # Ours is its weights and the code that samples with them: a change of either reruns it.
    digest = hashlib.sha1(weights.read_bytes() if weights.is_file() else b"")
    digest.update(_MOLECULES_CODE)
    version = digest.hexdigest()[:10]
    store = ResultStore(out / "scores.csv", COLUMNS)
    done = store.finished()
    for seed in range(options.seeds):
        for task in options.tasks:
            versions = {m: version if m in OURS else "1" for m in models}
            todo = [m for m in models if (task, str(seed), m, versions[m]) not in done]
            setting = make_setting(task, seed, zinc) if todo else None
            for model in todo:
                key = {"dataset": task, "fold": seed, "model": model}
                key["model_version"] = versions[model]
                try:
                    row = run_cell(task, seed, model, setting, generators)
                    store.append({**key, "error": "", **row})
                except Exception as error:  # a failed cell is a result like any other
                    store.append({**key, "error": f"{type(error).__name__}: {error}"})
                print(task, seed, model, flush=True)
    results = store.read()
    results = results[~results["model"].isin(OURS) | (results["model_version"] == version)]
    results = results[results["model"].isin(suite)]
    datasets = complete_datasets(results, suite, options.seeds)
    summary = summary_markdown(results, METRICS, METRICS[0], datasets, "Molecule design")
    env = environment(["torch", "rdkit", "numpy"])
    (out / "summary.md").write_text(summary + "\n" + environment_markdown(env) + "\n")
    best_molecules_grid(results, suite, out / "best_molecules.png")
    print(summary)


if __name__ == "__main__":
    main()
