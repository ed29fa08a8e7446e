"""Synthetic supervised tables: the tasks the tabular model is pretrained on.

Each table is drawn from one of four function families, then made realistic:

- ``mlp_scm``: a random MLP read as a structural causal model. Noise flows from root
  causes through layers with varied activations; features and the target are read
  off random nodes, so some features cause the target, some are its effects and some
  are unrelated.
- ``trees``: sums of random axis-aligned trees over independently drawn features,
  which gives the step-shaped functions gradient boosting is good at.
- ``fourier``: smooth random functions of a few features.
- ``linear``: a linear function of many correlated features, the tables where
  logistic regression is hard to beat.

Targets become 2..K imbalanced classes (optionally blurred by noise first, so that
classes overlap) or stay continuous (heavy tails and heteroscedastic noise); features
are partly turned categorical, rounded to integers, duplicated, and punched with
missing values (at random and by value).
The same seed gives the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTIVATIONS = (
    np.tanh,
    lambda z: np.maximum(z, 0.0),
    np.sin,
    np.abs,
    lambda z: z,
    lambda z: 1.0 / (1.0 + np.exp(-z)),
    lambda z: np.clip(z, -3, 3) ** 2,
    lambda z: np.sign(z),
)


@dataclass(frozen=True)
class PriorConfig:
    max_classes: int = 10
    p_trees: float = 0.35  # share of tables drawn from the tree family
    p_fourier: float = 0.15  # share drawn from smooth random Fourier functions; mlp_scm the rest
    p_linear: float = 0.0  # share drawn from linear functions of correlated features
    # Noise on classification targets before they are cut (``cut_into_classes``).
    # Without it trees and fourier cut noiseless functions, so their classes never
    # overlap, while a real table's often do (credit-g). 0 draws nothing, so the
    # streams of older runs replay.
    max_class_noise: float = 0.0
    p_categorical: float = 0.25  # chance a table has categorical columns at all
    p_missing: float = 0.3  # chance a table has missing values at all
    p_integer: float = 0.2  # chance a table has integer-rounded columns
    p_duplicate: float = 0.1  # chance a table has duplicated columns

    def family_weights(self) -> list[float]:
        """Probabilities of ``FAMILIES`` in order."""
        return [
            1.0 - self.p_trees - self.p_fourier - self.p_linear,
            self.p_trees,
            self.p_fourier,
            self.p_linear,
        ]


@dataclass
class Table:
    """One synthetic task: ``x`` (rows, features) with NaN for missing, ``y`` (rows,)."""

    x: np.ndarray
    y: np.ndarray


def _random_inputs(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    kind = rng.integers(3)
    if kind == 0:
        return rng.standard_normal((n, d))
    if kind == 1:
        return rng.uniform(-1.7, 1.7, (n, d))
    # A mixture of Gaussian clusters gives multi-modal marginals.
    centres = rng.standard_normal((int(rng.integers(2, 6)), d)) * 1.5
    return centres[rng.integers(len(centres), size=n)] + 0.5 * rng.standard_normal((n, d))


def mlp_scm(rng: np.random.Generator, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and a target column read off the nodes of a random noisy MLP.

    The target is a node of the last layer; features are any other nodes, root causes
    included, so some features cause the target, some are effects of its causes and some
    are unrelated. A layer no wider than about the number of features keeps the target's
    causes observable: wide hidden layers made most tasks unlearnable (a random forest
    sat at chance on 71% of them).
    """
    width = int(rng.integers(max(2, n_features // 2), n_features + 3))
    n_layers = int(rng.integers(1, 4))
    noise = np.exp(rng.uniform(np.log(0.003), np.log(0.2)))
    h = _random_inputs(rng, n, width)
    nodes = [h]
    for _ in range(n_layers):
        weights = rng.standard_normal((width, width)) / np.sqrt(width)
        weights *= rng.random((width, width)) < rng.uniform(0.3, 1.0)  # sparse edges
        activation = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
        h = activation(h @ weights * rng.uniform(0.5, 1.5) + rng.standard_normal(width) * 0.5)
        h = h + noise * rng.standard_normal(h.shape)
        nodes.append(h)
    target = h[:, rng.integers(width)]
    nodes = np.concatenate(nodes, axis=1)  # (n, (layers + 1) * width)
    nodes = nodes[:, nodes.std(axis=0) > 1e-8]
    if nodes.shape[1] < n_features + 1 or target.std() < 1e-8:
        return trees(rng, n, n_features)
    # The target's own column is among the nodes: drop it from the candidates.
    candidates = np.flatnonzero(~np.all(nodes == target[:, None], axis=0))
    if len(candidates) < n_features:
        return trees(rng, n, n_features)
    return nodes[:, rng.choice(candidates, n_features, replace=False)], target


def trees(rng: np.random.Generator, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent features and a target that sums random axis-aligned trees."""
    x = _random_inputs(rng, n, n_features)
    relevant = rng.choice(n_features, int(rng.integers(1, n_features + 1)), replace=False)
    y = np.zeros(n)
    for _ in range(int(rng.integers(1, 16))):
        depth = int(rng.integers(1, 6))
        node = np.zeros(n, dtype=np.int64)  # heap index of each row's current node
        for _ in range(depth):
            feature = rng.choice(relevant, 2**depth)  # one split per node of this level
            threshold = rng.standard_normal(2**depth)
            slot = node - (2 ** np.floor(np.log2(node + 1)).astype(np.int64) - 1)
            go_right = x[np.arange(n), feature[slot]] > threshold[slot]
            node = 2 * node + 1 + go_right
        y += rng.standard_normal(2 ** (depth + 1))[node - (2**depth - 1)]
    if rng.random() < 0.5:
        y += x[:, relevant] @ rng.standard_normal(len(relevant)) * rng.uniform(0, 0.5)
    return x, y


def cut_into_classes(
    rng: np.random.Generator, y: np.ndarray, max_classes: int, max_noise: float = 0.0
) -> np.ndarray:
    """Cut a continuous target into 2..max_classes classes of uneven sizes.

    Two classes come up 40% of the time, as binary tasks dominate real benchmarks.
    With ``max_noise`` the target first gets Gaussian noise of a standard deviation
    drawn uniformly up to ``max_noise`` of its own, so that classes overlap.
    """
    if max_noise > 0:
        y = y + rng.uniform(0.0, max_noise) * y.std() * rng.standard_normal(len(y))
    k = 2 if rng.random() < 0.4 else int(rng.integers(3, max_classes + 1))
    cuts = np.sort(rng.dirichlet(np.full(k, rng.uniform(0.5, 5.0)))[:-1].cumsum())
    classes = np.searchsorted(np.quantile(y, cuts), y)
    return rng.permutation(k)[classes].astype(np.float64)  # class ids carry no order


def fourier(rng: np.random.Generator, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Independent features and a smooth target: random Fourier features of a few of them.

    A draw from a GP-like prior with a random length scale per relevant feature.
    """
    x = _random_inputs(rng, n, n_features)
    relevant = rng.choice(n_features, int(rng.integers(1, min(n_features, 6) + 1)), replace=False)
    n_waves = 64
    frequencies = rng.standard_normal((len(relevant), n_waves)) / rng.uniform(
        0.3, 2.0, (len(relevant), 1)
    )
    phases = rng.uniform(0, 2 * np.pi, n_waves)
    y = np.cos(x[:, relevant] @ frequencies + phases) @ rng.standard_normal(n_waves)
    return x, y


def linear(rng: np.random.Generator, n: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlated features and a target linear in a random share of them.

    Many weak additive effects spread over correlated columns (breast_cancer, wine)
    are what logistic regression reads best; the other families rarely draw them.
    """
    mixing = np.eye(n_features) + rng.uniform(0.0, 1.0) * rng.standard_normal(
        (n_features, n_features)
    ) / np.sqrt(n_features)
    x = _random_inputs(rng, n, n_features) @ mixing
    relevant = rng.random(n_features) < rng.uniform(0.2, 1.0)
    relevant[rng.integers(n_features)] = True
    return x, x @ (rng.standard_normal(n_features) * relevant)


def _regression_target(rng: np.random.Generator, y: np.ndarray) -> np.ndarray:
    y = (y - y.mean()) / (y.std() + 1e-12)
    scale = 1.0 + rng.uniform(0, 1) * np.abs(y) if rng.random() < 0.3 else 1.0
    y = y + rng.uniform(0.0, 0.5) * scale * rng.standard_normal(len(y))
    if rng.random() < 0.2:
        y = np.sinh(y * rng.uniform(0.5, 2.0))  # heavy tails
    return y


FAMILIES = (mlp_scm, trees, fourier, linear)


def _make_realistic(rng: np.random.Generator, x: np.ndarray, config: PriorConfig) -> np.ndarray:
    n, d = x.shape
    x = x.copy()
    if rng.random() < config.p_categorical:
        for j in np.flatnonzero(rng.random(d) < rng.uniform(0.1, 0.7)):
            k = int(rng.integers(2, 12))
            codes = np.searchsorted(np.quantile(x[:, j], np.linspace(0, 1, k + 1)[1:-1]), x[:, j])
            x[:, j] = rng.permutation(k)[codes]
    if rng.random() < config.p_integer:
        for j in np.flatnonzero(rng.random(d) < 0.5):
            x[:, j] = np.round(x[:, j] * rng.choice([1, 3, 10]))
    if rng.random() < config.p_duplicate and d > 1:
        source = rng.integers(d, size=int(rng.integers(1, d // 2 + 2)))
        target = rng.choice(d, len(source), replace=False)
        x[:, target] = x[:, source] + 0.01 * rng.standard_normal((n, len(source)))
    if rng.random() < config.p_missing:
        rate = rng.uniform(0.01, 0.4)
        columns = rng.random(d) < rng.uniform(0.1, 1.0)
        if rng.random() < 0.5:  # missing completely at random
            mask = rng.random((n, d)) < rate
        else:  # large values go missing more often
            mask = rng.random((n, d)) < rate * 2 * (x > np.median(x, axis=0))
        x[mask & columns] = np.nan
    return x


def sample_table(
    seed: int | np.random.SeedSequence,
    n_rows: int,
    n_features: int,
    task: str,
    config: PriorConfig,
) -> Table:
    """Draw one ``task`` table ("classification" or "regression") of the given size."""
    rng = np.random.default_rng(seed)
    family = FAMILIES[rng.choice(len(FAMILIES), p=config.family_weights())]
    with np.errstate(all="ignore"):
        x, y = family(rng, n_rows, n_features)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
        if task == "classification":
            y = cut_into_classes(rng, y, config.max_classes, config.max_class_noise)
        else:
            y = _regression_target(rng, y)
    return Table(x=_make_realistic(rng, x, config), y=y)
