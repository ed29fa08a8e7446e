"""A CSV logger whose learning curve survives a resumed run."""

from __future__ import annotations

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class ResumableCSVLogger(CSVLogger):
    """:class:`~lightning.pytorch.loggers.CSVLogger` that keeps the rows of the run it resumes.

    Lightning's writer deletes an existing ``metrics.csv`` when it starts. The configs
    pin ``version`` so that a rerun finds its checkpoints (``ckpt_path: last``), so a
    resumed run would lose every row logged before it was stopped. This logger writes
    those rows back at once. The resumed run repeats the steps after its last
    checkpoint; the first step it logs drops the old rows from that step on.

    Parameters are those of :class:`~lightning.pytorch.loggers.CSVLogger`.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resumed_from_file = False

    @property
    @rank_zero_experiment
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        header, rows = _read_rows(self._metrics_path())
        experiment = super().experiment  # deletes metrics.csv
        if header:
            _write_rows(self._metrics_path(), header, rows)
            experiment.metrics_keys = header
            self._resumed_from_file = True
        return experiment

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        experiment = self.experiment
        if self._resumed_from_file and step is not None:
            self._resumed_from_file = False
            header, rows = _read_rows(self._metrics_path())
            kept = [row for row in rows if float(row["step"]) < step]
            _write_rows(self._metrics_path(), header, kept)
            experiment.metrics_keys = header
        super().log_metrics(metrics, step)

    def _metrics_path(self) -> str:
        return os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)


def _read_rows(path: str) -> tuple[list[str], list[dict[str, str]]]:
    if not os.path.isfile(path):
        return [], []
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return list(reader.fieldnames or []), list(reader)


def _write_rows(path: str, header: list[str], rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
