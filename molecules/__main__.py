"""Command line: ``python -m molecules {learn-vocab,generate,export,export-onnx}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from molecules.chem import read_smiles


def learn_vocab(options: argparse.Namespace) -> None:
    from molecules.context import TokenIndex
    from molecules.motifs import MotifVocabulary
    from molecules.tokenizer import MotifTokenizer

    corpus = read_smiles(options.corpus)
    rng = np.random.default_rng(options.seed)
    picked = rng.choice(len(corpus), options.n_merge_molecules + options.n_token_molecules, False)
    merge_sample = [corpus[i] for i in picked[: options.n_merge_molecules]]
    token_sample = [corpus[i] for i in picked[options.n_merge_molecules :]]
    vocabulary = MotifVocabulary.learn(merge_sample, options.n_merges, options.max_atoms)
    tokenizer = MotifTokenizer(vocabulary)
    # Base-unit tokens too: they are the fallback for merged motifs the index lacks.
    tokenized = [tokenizer.tokenize(s, merge=m) for s in token_sample for m in (True, False)]
    index = TokenIndex.from_corpus(tokenized, options.min_count)
    out = Path(options.output)
    out.mkdir(parents=True, exist_ok=True)
    vocabulary.save(out / "motifs.txt")
    index.save(out / "tokens.txt")
    print(f"{len(vocabulary.merges)} merges and {len(index)} tokens written to {out}")


def generate(options: argparse.Namespace) -> None:
    import pandas as pd

    from molecules.generator import DemonstrationGenerator

    demos = pd.read_csv(options.demos)
    settings = {  # the options given; the generator's defaults for the others
        name: getattr(options, name)
        for name in ("temperature", "prefix_share", "candidates_per_sample")
        if hasattr(options, name)
    }
    generator = DemonstrationGenerator(options.model_path, **settings)
    out = generator.generate(
        demos,
        options.n_samples,
        random_state=options.seed,
        invalid="skip" if options.skip_invalid else "raise",
        progress=True,
    )
    out.to_csv(options.output, index=False)
    stats = ", ".join(f"{k} {v:.3g}" for k, v in out.attrs.items())
    print(f"{len(out)} molecules written to {options.output} ({stats})")


def export(options: argparse.Namespace) -> None:
    import torch

    from molecules.checkpoint import Generator, save_generator
    from molecules.context import TokenIndex
    from molecules.motifs import MotifVocabulary
    from molecules.tokenizer import MotifTokenizer
    from pretraining.export import write_model_card
    from pretraining.molecule_module import MoleculeGeneratorModule

    checkpoint = Path(options.checkpoint)
    # Our own Lightning checkpoint: it holds hyper-parameters besides tensors.
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    # The checkpoint holds every weight: the starting ones (init_from) are not needed.
    module = MoleculeGeneratorModule.load_from_checkpoint(
        checkpoint, map_location="cpu", init_from=None
    )
    vocabulary = MotifVocabulary(state["motif_merges"], state["motif_max_atoms"])
    generator = Generator(
        module.model.eval(), TokenIndex(state["motif_tokens"]), MotifTokenizer(vocabulary)
    )
    out = save_generator(generator, options.out_dir)
    exported = f"- Exported with: `python -m molecules export {checkpoint} {options.out_dir}`"
    title = "DemonstrationTransformer (molecule generator)"
    write_model_card(out, title, module.model, state, checkpoint, options.command, [exported])
    print(out)


def export_onnx(options: argparse.Namespace) -> None:
    import shutil

    from molecules.checkpoint import bundled_generator
    from molecules.onnx import export_onnx as write_graphs

    source = Path(options.model_path or bundled_generator())
    out = Path(options.out)
    if out.resolve() != source.resolve():
        shutil.copytree(source, out, dirs_exist_ok=True)
    print(
        f"wrote {write_graphs(out)} and its context graph; generate with "
        f"DemonstrationGenerator({str(out)!r}, backend='onnx')"
    )


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m molecules")
    commands = parser.add_subparsers(dest="action", required=True)
    learn = commands.add_parser("learn-vocab", help="learn motif merges from a corpus")
    learn.add_argument("--corpus", default="../shared/molecules/zinc250k.smi.gz")
    learn.add_argument("--n-merge-molecules", type=int, default=3000)
    learn.add_argument("--n-merges", type=int, default=200)
    learn.add_argument("--max-atoms", type=int, default=12)
    learn.add_argument("--n-token-molecules", type=int, default=10000)
    learn.add_argument("--min-count", type=int, default=2)
    learn.add_argument("--seed", type=int, default=0)
    learn.add_argument("-o", "--output", default="molecules/data")
    sample = commands.add_parser("generate", help="generate molecules from demonstrations")
    sample.add_argument("--demos", required=True, help="CSV with columns smiles and score")
    sample.add_argument("-n", "--n-samples", type=int, default=100)
    sample.add_argument("-o", "--output", required=True, help="CSV to write")
    sample.add_argument("--seed", type=int, default=0)
    for flag, kind in (
        ("--temperature", float),
        ("--prefix-share", float),
        ("--candidates-per-sample", int),
    ):
        sample.add_argument(flag, type=kind, default=argparse.SUPPRESS, help="see the API")
    sample.add_argument("--model-path", default=None, help="checkpoint directory")
    sample.add_argument("--skip-invalid", action="store_true", help="warn, do not raise")
    exporter = commands.add_parser("export", help="Lightning checkpoint -> generator checkpoint")
    exporter.add_argument("checkpoint")
    exporter.add_argument("out_dir")
    exporter.add_argument("--command", default="", help="training command for the model card")
    onnx = commands.add_parser("export-onnx", help="generator checkpoint -> ONNX graphs")
    onnx.add_argument("--out", required=True, help="directory: the checkpoint and its graphs")
    onnx.add_argument("--model-path", default=None, help="checkpoint directory (bundled)")
    options = parser.parse_args(sys.argv[1:] if args is None else args)
    actions = {"learn-vocab": learn_vocab, "generate": generate, "export": export,
               "export-onnx": export_onnx}  # fmt: skip
    actions[options.action](options)


if __name__ == "__main__":
    main()
