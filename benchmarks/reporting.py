"""Benchmark results shared by every benchmark: the resumable CSV of cells, the
aggregates, the markdown summary and the plots.

A *cell* is one (dataset, fold, model, model version); its row holds the metrics, or
an ``error`` message when the model failed, which is a result like any other. The
aggregates work on a *scores* table, datasets × models, whose entry is the mean of a
metric over the folds and NaN where any fold failed. Failures rank last and score 0
in the normalised score; the metric means are over the datasets every model
completed.
"""

from __future__ import annotations

import ast
import csv
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from itertools import cycle
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # not pyplot: files only, no display or backend state

KEY = ("dataset", "fold", "model", "model_version")


def package_source(package: ModuleType) -> bytes:
    """The code of ``package``'s Python files as it is now, to version results with.

    Each file is read as its syntax tree without docstrings, so that editing comments,
    docstrings or layout does not relabel results that the code computes the same way.
    Read once at import by the benchmarks: files edited during a long run must not
    relabel cells computed with the code loaded before.
    """
    return "".join(
        _code_without_docs(path) for path in sorted(Path(package.__file__).parent.glob("*.py"))
    ).encode()


_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _code_without_docs(path: Path) -> str:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, _DOCUMENTED) and ast.get_docstring(node, clean=False) is not None:
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


@dataclass(frozen=True)
class Metric:
    """A column of the results and the direction in which it improves."""

    name: str
    higher_is_better: bool


class ResultStore:
    """A CSV with one row per finished cell, appended as each cell finishes.

    Parameters
    ----------
    path : str or Path
        The CSV file; created with a header on the first ``append``.
    columns : sequence of str
        Every column, in order; must include ``dataset``, ``fold``, ``model``,
        ``model_version`` and ``error``.
    """

    def __init__(self, path: str | Path, columns: Sequence[str]) -> None:
        missing = [c for c in (*KEY, "error") if c not in columns]
        if missing:
            raise ValueError(f"columns must include {missing}")
        self.path = Path(path)
        self.columns = list(columns)
        if self.path.exists():
            with self.path.open(newline="") as file:
                header = next(csv.reader(file), None)
            if header is not None and header != self.columns:
                raise ValueError(
                    f"{self.path} has columns {header}, this run writes {self.columns}: "
                    "resume with the command that created it, or pass another --run-id"
                )

    def finished(self) -> set[tuple[str, ...]]:
        """Keys (dataset, fold, model, model_version), as strings, of the rows on disk."""
        if not self.path.exists():
            return set()
        frame = pd.read_csv(self.path, dtype=str, usecols=list(KEY), keep_default_na=False)
        return set(frame.itertuples(index=False, name=None))

    def append(self, row: dict) -> None:
        """Write one finished cell; missing columns stay empty."""
        new = not self.path.exists() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", newline="") as file:
            writer = csv.DictWriter(file, self.columns, restval="")
            if new:
                writer.writeheader()
            writer.writerow(row)

    def read(self) -> pd.DataFrame:
        """All rows; ``error`` is an empty string where the cell succeeded."""
        if not self.path.exists():
            return pd.DataFrame(columns=self.columns)
        frame = pd.read_csv(self.path, dtype={"error": str, "model_version": str})
        frame["error"] = frame["error"].fillna("")
        return frame


def environment(packages: Sequence[str]) -> dict:
    """Hardware, Python, the installed versions of ``packages`` and the git commit."""

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        root = Path(__file__).resolve().parents[1]
        return subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False
        ).stdout.strip()

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        names = [
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line
        ]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "packages": {p: installed(p) for p in packages if installed(p)},
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def environment_markdown(env: dict) -> str:
    """One line naming the hardware, Python, packages and commit of :func:`environment`."""
    dirty = " with uncommitted changes" if env["uncommitted_changes"] else ""
    packages = ", ".join(f"{p} {v}" for p, v in env["packages"].items())
    return (
        f"Hardware: {env['cpu']} ({env['machine']}), {env['cores']} cores, "
        f"{env['memory_gib']} GiB; Python {env['python']}, {packages}; "
        f"commit {env['commit']}{dirty}."
    )


def complete_datasets(results: pd.DataFrame, models: Sequence[str], n_folds: int) -> list[str]:
    """Datasets on which every model has a row for every fold, in order of appearance."""
    counts = results.groupby(["dataset", "model"], sort=False)["fold"].nunique()
    counts = counts.unstack("model").reindex(columns=list(models))
    return list(counts.index[(counts == n_folds).all(axis=1)])


def dataset_scores(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Datasets × models: the metric's mean over folds, NaN where any fold failed."""
    scores = results.groupby(["dataset", "model"], sort=False)[metric].agg(
        lambda values: values.mean(skipna=False)
    )
    return scores.unstack("model").reindex(columns=results["model"].unique())


def ranks(scores: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Each model's rank on each dataset (1 is best, ties share the mean; failures last)."""
    return scores.rank(axis=1, ascending=not higher_is_better, na_option="bottom")


def normalised_scores(scores: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Per dataset, 1 for the best model, 0 for the worst, linear between; failures 0."""
    oriented = scores if higher_is_better else -scores
    worst = oriented.min(axis=1)
    spread = oriented.max(axis=1) - worst
    normalised = oriented.sub(worst, axis=0).div(spread.replace(0, np.nan), axis=0)
    level = spread == 0  # every model that scored is the best one
    normalised.loc[level] = oriented.loc[level].notna().astype(float)
    return normalised.fillna(0.0)


def wins_ties_losses(
    scores: pd.DataFrame, higher_is_better: bool, tolerance: float = 0.0
) -> pd.DataFrame:
    """Row model against column model: "wins/ties/losses" over the datasets.

    Scores within ``tolerance`` tie; a failure loses to any score and ties another failure.
    """
    oriented = (scores if higher_is_better else -scores).fillna(-np.inf)
    models = list(scores.columns)
    table = pd.DataFrame("", index=models, columns=models)
    for a in models:
        for b in models:
            if a != b:
                difference = (oriented[a] - oriented[b]).fillna(0.0)  # -inf - -inf: a tie
                wins = int((difference > tolerance).sum())
                losses = int((difference < -tolerance).sum())
                table.loc[a, b] = f"{wins}/{len(difference) - wins - losses}/{losses}"
    return table


def rank_plot(dataset_ranks: pd.DataFrame, path: str | Path, title: str) -> None:
    """Critical-difference diagram: mean ranks, joined where Friedman-Nemenyi (alpha 0.05)
    cannot tell models apart."""
    import scikit_posthocs

    mean_ranks = dataset_ranks.mean()
    if len(dataset_ranks) > 1 and dataset_ranks.shape[1] > 2:
        significance = scikit_posthocs.posthoc_nemenyi_friedman(dataset_ranks.to_numpy())
        significance.index = significance.columns = dataset_ranks.columns
    else:  # too few datasets or models for the test: draw the ranks, join nothing
        significance = pd.DataFrame(0.0, mean_ranks.index, mean_ranks.index)
    figure = Figure(figsize=(7, 0.4 * len(mean_ranks) + 1.2))
    axes = figure.subplots()
    scikit_posthocs.critical_difference_diagram(mean_ranks, significance, ax=axes)
    axes.set_title(f"{title}\nmean rank over {len(dataset_ranks)} datasets (1 = best)")
    figure.savefig(path, dpi=120, bbox_inches="tight")


def score_plot(normalised: pd.DataFrame, path: str | Path, title: str) -> None:
    """Each model's normalised score on each dataset, datasets sorted by their mean."""
    order = normalised.mean(axis=1).sort_values().index
    figure = Figure(figsize=(7, 0.22 * len(order) + 1.5))
    axes = figure.subplots()
    positions = np.arange(len(order))
    for marker, (model, values) in zip(cycle("os^vDP*Xh<>"), normalised.loc[order].items()):
        axes.scatter(values, positions, marker=marker, label=f"{model} ({values.mean():.3f})")
    axes.set_yticks(positions, order, fontsize=7)
    axes.set_xlabel("normalised score (1 = best model on the dataset, 0 = worst)")
    axes.set_title(title)
    axes.legend(title="model (mean)", fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.savefig(path, dpi=120, bbox_inches="tight")


def summary_markdown(
    results: pd.DataFrame,
    metrics: Sequence[Metric],
    headline: Metric,
    datasets: Sequence[str],
    title: str,
) -> str:
    """Means, ranks, normalised scores, wins/ties/losses and failures of ``datasets``.

    Parameters
    ----------
    results : DataFrame
        Rows of a :class:`ResultStore`, one model version per model.
    metrics : sequence of Metric
        Metrics whose means are reported.
    headline : Metric
        The metric ranked, normalised and compared pairwise.
    datasets : sequence of str
        Datasets to aggregate over (usually :func:`complete_datasets`).
    title : str
        Heading of the summary.
    """
    results = results[results["dataset"].isin(datasets)]
    models = list(results["model"].unique())
    headline_scores = dataset_scores(results, headline.name).reindex(columns=models)
    succeeded = headline_scores.dropna().index
    table = pd.DataFrame(index=models)
    for metric in metrics:
        means = dataset_scores(results, metric.name).reindex(columns=models).loc[succeeded]
        table[metric.name] = means.mean()
    table["mean rank"] = ranks(headline_scores, headline.higher_is_better).mean()
    table["normalised"] = normalised_scores(headline_scores, headline.higher_is_better).mean()
    table["failed cells"] = (results["error"] != "").groupby(results["model"]).sum().astype(int)
    per_dataset = headline_scores.map(lambda v: "failed" if pd.isna(v) else f"{v:.4f}")
    failures = results.loc[results["error"] != "", ["dataset", "fold", "model", "error"]]
    failures = failures.assign(error=failures["error"].str.slice(0, 160))
    lines = [
        f"## {title}",
        "",
        f"{len(headline_scores)} datasets; metric means over the {len(succeeded)} on which "
        f"no model failed; mean rank, normalised score and wins/ties/losses use "
        f"{headline.name} ({'higher' if headline.higher_is_better else 'lower'} is better) "
        "on all of them, a failure ranking last and scoring 0.",
        "",
        # One format per column, the index first: four decimals, failures as counts.
        table.sort_values("mean rank").to_markdown(
            floatfmt=["", *[".4f"] * (table.shape[1] - 1), ".0f"]
        ),
        "",
        f"### Wins/ties/losses on {headline.name} (row model against column model)",
        "",
        wins_ties_losses(headline_scores, headline.higher_is_better).to_markdown(),
        "",
        f"### {headline.name} per dataset (mean over folds)",
        "",
        per_dataset.to_markdown(),
        "",
        f"### Failures ({len(failures)} cells)",
        "",
        failures.to_markdown(index=False) if len(failures) else "None.",
        "",
    ]
    return "\n".join(lines)
