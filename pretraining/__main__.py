"""Command line: ``python -m pretraining fit --config pretraining/configs/<name>.yaml``.

The model and the data module are chosen in the config (``class_path``), so tables and
molecules train through the same ``LightningCLI``; configs compose, e.g.
``--config pretraining/configs/cpu.yaml --config pretraining/configs/cpu-regressor.yaml``.
``python -m pretraining export CKPT OUT_DIR [--command "..."]`` writes a checkpoint the
estimators load; ``python -m pretraining average DIR DIR... --out DIR`` writes the mean of
exported checkpoints' weights; ``python -m pretraining curve CKPT... --datasets NAME...
--csv F --plot F`` scores saved checkpoints on real datasets and draws the learning curve.
"""

from __future__ import annotations

import argparse
import sys

import lightning as L
from lightning.pytorch.cli import LightningCLI

from benchmarks.datasets import DEFAULT_DATA_DIR
from pretraining.export import average, export
from pretraining.validation import plot_learning_curve, score_checkpoints


def export_main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pretraining export")
    parser.add_argument("checkpoint")
    parser.add_argument("out_dir")
    parser.add_argument("--command", default="", help="training command for the model card")
    options = parser.parse_args(args)
    print(export(options.checkpoint, options.out_dir, options.command))


def average_main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pretraining average")
    parser.add_argument("checkpoints", nargs="+", help="exported checkpoint directories")
    parser.add_argument("--out", required=True, help="directory of the averaged checkpoint")
    options = parser.parse_args(args)
    print(average(options.checkpoints, options.out))


def curve_main(args: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pretraining curve")
    parser.add_argument("checkpoints", nargs="+", help="Lightning checkpoints of one run")
    parser.add_argument("--datasets", nargs="+", required=True, help="CC18 or CTR23 names")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--csv", required=True, help="scores per checkpoint and dataset")
    parser.add_argument("--plot", help="PNG of the mean score against time and tables seen")
    parser.add_argument("--title", default="")
    options = parser.parse_args(args)
    curve = score_checkpoints(options.checkpoints, options.datasets, options.data_dir)
    curve.to_csv(options.csv, index=False)
    print(curve.groupby("step")[["train_seconds", "tables_seen", "score"]].mean().to_string())
    if options.plot:
        print(plot_learning_curve(curve, options.plot, options.title))


def cli_main(args: list[str] | None = None) -> None:
    args = sys.argv[1:] if args is None else args
    subcommands = {"export": export_main, "average": average_main, "curve": curve_main}
    if args[:1] and args[0] in subcommands:
        subcommands[args[0]](args[1:])
        return
    LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=args,
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    cli_main()
