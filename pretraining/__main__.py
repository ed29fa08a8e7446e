"""Command line: ``python -m pretraining fit --config pretraining/configs/<name>.yaml``.

``python -m pretraining export CKPT OUT_DIR [--command "..."]`` writes a checkpoint
the estimators load.
"""

from __future__ import annotations

import argparse
import sys

from lightning.pytorch.cli import LightningCLI

from pretraining.data import TablePriorDataModule
from pretraining.export import export
from pretraining.module import TabularICLModule


class PretrainingCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.task", "model.config.task")


def cli_main(args: list[str] | None = None) -> None:
    if (sys.argv[1:] if args is None else args)[:1] == ["export"]:
        parser = argparse.ArgumentParser(prog="python -m pretraining export")
        parser.add_argument("checkpoint")
        parser.add_argument("out_dir")
        parser.add_argument("--command", default="", help="training command for the model card")
        options = parser.parse_args((sys.argv[1:] if args is None else args)[1:])
        print(export(options.checkpoint, options.out_dir, options.command))
        return
    PretrainingCLI(
        TabularICLModule,
        TablePriorDataModule,
        args=args,
        save_config_kwargs={"overwrite": True},
    )


if __name__ == "__main__":
    cli_main()
