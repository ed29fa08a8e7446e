"""How learnable are the pretraining tasks? A random forest on each source of tables.

``python -m benchmarks.prior_learnability [--tables 40] [--real-tables ../shared/realtables]
[--max-class-noise 0.0] [--out FILE]``

Tasks nobody can learn teach the network only the label marginal. For each source
(every synthetic family, and real tables with a random target column) this samples
classification tasks of 300 rows, fits a random forest on half and reports accuracy,
the majority-class rate and the normalised gain (acc - majority) / (1 - majority).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

from pretraining.priors import FAMILIES, PriorConfig, cut_into_classes
from pretraining.realtables import load_real_tables, sample_real_task

RESULTS = Path(__file__).parent / "results" / "prior_learnability.json"


def sample_task(
    source: str, seed: int, n_features: int, real_dir: str, max_class_noise: float = 0.0
) -> tuple | None:
    rng = np.random.default_rng(seed)
    if source == "real":
        max_classes = PriorConfig().max_classes
        table = sample_real_task(rng, load_real_tables(real_dir), 300, n_features,
                                 "classification", max_classes)  # fmt: skip
        return None if table is None else (table.x, table.y)
    family = next(f for f in FAMILIES if f.__name__ == source)
    x, y = family(rng, 300, n_features)
    return x, cut_into_classes(rng, y, PriorConfig().max_classes, max_class_noise)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=int, default=40, help="tasks per source")
    parser.add_argument("--real-tables", default="../shared/realtables")
    parser.add_argument(
        "--max-class-noise", type=float, default=0.0, help="as PriorConfig.max_class_noise"
    )
    parser.add_argument("--out", default=str(RESULTS))
    options = parser.parse_args(args)
    sources = [f.__name__ for f in FAMILIES] + ["real"]
    results = {}
    for source in sources:
        accuracies, majorities = [], []
        for seed in range(options.tables):
            n_features = int(np.random.default_rng([seed, 1]).integers(2, 16))
            task = sample_task(
                source, seed, n_features, options.real_tables, options.max_class_noise
            )
            if task is None:
                continue
            x, y = np.nan_to_num(task[0]), task[1]
            x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5,
                                                                random_state=seed)  # fmt: skip
            forest = RandomForestClassifier(50, random_state=0).fit(x_train, y_train)
            accuracies.append(forest.score(x_test, y_test))
            majorities.append(np.bincount(y_test.astype(int)).max() / len(y_test))
        accuracy, majority = np.array(accuracies), np.array(majorities)
        gain = (accuracy - majority) / np.maximum(1 - majority, 1e-9)
        results[source] = {
            "tasks": len(accuracy),
            "rf_accuracy": round(float(accuracy.mean()), 3),
            "majority": round(float(majority.mean()), 3),
            "median_normalised_gain": round(float(np.median(gain)), 3),
            "share_near_chance": round(float((gain < 0.1).mean()), 3),
        }
        print(source, results[source])
    Path(options.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
