"""scikit-learn estimators around the pretrained tabular in-context model."""

from __future__ import annotations

import numbers
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import log_loss, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    column_or_1d,
    validate_data,
)

from tabicl.ensemble import Member, class_frequencies, digit_labels, plan_members
from tabicl.fine_tuning import Episode
from tabicl.preprocessing import (
    NORMALIZERS,
    TableEncoder,
    as_frame,
    bin_points,
    make_normalizer,
    principal_components,
    rank_transfer,
    target_ranks,
)
from tabicl.retrieval import Neighbourhoods, stratified_subsample
from tabicl.selection import select_columns

CONTEXT_SELECTIONS = ("neighbors", "subsample")
# max_context_rows="auto": a context holds the whole training set up to
# WHOLE_CONTEXT_ROWS rows (for regression, with distance attention, this beat 128-row
# neighbourhoods on 24 of 25 held-out real-table tasks: docs/pretraining.md); beyond
# that, contexts are neighbourhoods of NEIGHBOURHOOD_ROWS similar rows, which predicted
# best on the large CC18 sets and on CTR23 (benchmarks/RESULTS.md).
WHOLE_CONTEXT_ROWS = 2048
NEIGHBOURHOOD_ROWS = 128
FEATURE_REDUCTIONS = ("auto", "pca", "subsets")
FEATURE_SELECTIONS = ("auto", "mutual_info", "none")
BACKENDS = ("torch", "onnx")


class FineTuning(NamedTuple):
    """One task's fine-tuning at fit (docs/architecture.md, "Fine-tuning at fit")."""

    steps: int  # what fine_tune_steps="auto" takes
    learning_rate: float
    # An episode holds at most this many rows, so that a step costs the same on every
    # large table.
    episode_rows: int


# Regression gained from twice the steps on twice the rows (full CTR23 0.6556 -> 0.6615
# mean R²); classification gained less for the cost (one fold of 8 CC18 sets: ROC-AUC
# 0.8547 -> 0.8562 for about 2.5 times the fit time).
FINE_TUNING = {
    "classification": FineTuning(steps=50, learning_rate=2e-4, episode_rows=512),
    "regression": FineTuning(steps=100, learning_rate=1e-4, episode_rows=1024),
}
# fine_tune_steps="auto" skips tables under this many rows.
MIN_FINE_TUNE_ROWS = 64
# An episode holds out this share of its rows as queries.
EPISODE_QUERY_SHARE = 0.3
# Query batches are padded to a multiple of this many rows: matrix kernels pick their
# code path by the number of rows, and a fixed granularity makes a row's output the
# same to the last bit however the rows are batched (scikit-learn's subset invariance).
QUERY_ROW_BLOCK = 16


class TabICLEstimator(BaseEstimator):
    """Fit encodes the training table once; predict reads it for every query row.

    The parameters are documented on :class:`TabICLClassifier` and
    :class:`TabICLRegressor`, which differ only in their task.
    """

    _task: str

    def __init__(
        self,
        n_estimators: int = 4,
        *,
        max_context_rows: int | str = "auto",
        context_selection: str = "neighbors",
        feature_reduction: str = "auto",
        feature_selection: str = "auto",
        fine_tune_steps: int | str = "auto",
        backend: str = "torch",
        device: str = "auto",
        predict_batch_size: int = 1024,
        model_path: str | Path | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_context_rows = max_context_rows
        self.context_selection = context_selection
        self.feature_reduction = feature_reduction
        self.feature_selection = feature_selection
        self.fine_tune_steps = fine_tune_steps
        self.backend = backend
        self.device = device
        self.predict_batch_size = predict_batch_size
        self.model_path = model_path
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags

    def _check_params(self) -> None:
        minimum = {
            "n_estimators": 1,
            "max_context_rows": 1,
            "predict_batch_size": 1,
            "fine_tune_steps": 0,
        }
        for name, least in minimum.items():
            value = getattr(self, name)
            auto = name in ("max_context_rows", "fine_tune_steps")
            if auto and isinstance(value, str) and value == "auto":
                continue
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < least:
                kind = "a positive integer" if least else "a non-negative integer"
                also = ' or "auto"' if auto else ""
                raise ValueError(f"{name} must be {kind}{also}, got {value!r}")
        if self.backend == "onnx" and self.fine_tune_steps not in ("auto", 0):
            raise ValueError(
                "fine_tune_steps needs backend='torch' (onnxruntime runs no gradient "
                "steps); set fine_tune_steps=0 or 'auto' with backend='onnx'"
            )
        if self.context_selection not in CONTEXT_SELECTIONS:
            raise ValueError(
                f"context_selection must be one of {CONTEXT_SELECTIONS}, "
                f"got {self.context_selection!r}"
            )
        if self.feature_reduction not in FEATURE_REDUCTIONS:
            raise ValueError(
                f"feature_reduction must be one of {FEATURE_REDUCTIONS}, "
                f"got {self.feature_reduction!r}"
            )
        if self.feature_selection not in FEATURE_SELECTIONS:
            raise ValueError(
                f"feature_selection must be one of {FEATURE_SELECTIONS}, "
                f"got {self.feature_selection!r}"
            )
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu") or self.device.startswith("cuda")
        ):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")

    def _check_fit_input(self, X, y) -> tuple[pd.DataFrame, np.ndarray]:
        self._check_params()
        frame = as_frame(X)
        validate_data(self, X, skip_check_array=True)
        y = column_or_1d(y, warn=True)
        check_consistent_length(frame, y)
        return frame, y

    def _fit_context(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        n_classes: int | None,
        strata: np.ndarray,
        network=None,
    ) -> None:
        """Everything ``fit`` learns apart from the target encoding.

        ``y`` holds class ids, or regression targets; ``strata`` (one integer per row) is
        what a subsample keeps the proportions of; ``network``, when given, is an
        already loaded network to use instead of loading ``model_path``.
        """
        if network is None:
            network = self._load_network()
            if network.config.task != self._task:
                raise ValueError(
                    f"model_path={str(self.model_path)!r} holds a {network.config.task} "
                    f"model; {type(self).__name__} needs a {self._task} model"
                )
        self.model_ = network
        seed = check_random_state(self.random_state).randint(2**31)
        rng = np.random.default_rng(seed)
        max_features = self.model_.config.max_features
        encoder = TableEncoder().fit(frame)
        X_context = encoder.transform(frame)
        categorical = encoder.categorical_columns_
        # Levels named by numbers keep their order; the others' order means nothing.
        unordered = categorical & ~encoder.numbered_levels_
        steps = [encoder]
        self.selected_features_ = np.arange(X_context.shape[1])
        if self._selects_features():
            self.selected_features_ = select_columns(
                X_context,
                y,
                categorical,
                n_classes is not None,
                partial(self._validation_score, frame, y),
                seed,
            )
            if len(self.selected_features_) < X_context.shape[1]:
                kept = ColumnTransformer([("kept", "passthrough", self.selected_features_)])
                X_context = kept.fit_transform(X_context)
                steps.append(kept)
                categorical = categorical[self.selected_features_]
                unordered = unordered[self.selected_features_]
        if X_context.shape[1] > max_features and self._feature_reduction(categorical) == "pca":
            n_components = min(max_features, len(frame))
            projection = principal_components(n_components, rng.integers(2**31))
            X_context = projection.fit_transform(X_context)
            steps.append(projection)
            unordered = np.zeros(X_context.shape[1], dtype=bool)
        self.encoder_ = steps[0] if len(steps) == 1 else make_pipeline(*steps)
        # "quantile" always exists: it is the first normaliser and the retrieval space.
        self.normalizers_ = {
            kind: make_normalizer(kind, len(X_context)).fit(X_context)
            for kind in NORMALIZERS[: min(self.n_estimators, len(NORMALIZERS))]
        }
        # A column's codes are 0 .. levels - 1 of the categories seen in training.
        n_levels = {
            int(j): int(np.nanmax(X_context[:, j])) + 1
            for j in np.flatnonzero(unordered)
            if not np.isnan(X_context[:, j]).all()
        }
        level_frequencies = None
        if n_classes is not None:
            level_frequencies = {
                j: class_frequencies(X_context[:, j], n, y, n_classes) for j, n in n_levels.items()
            }
        self.members_ = plan_members(
            self.n_estimators,
            X_context.shape[1],
            max_features,
            n_classes,
            n_levels,
            rng,
            level_frequencies,
        )
        n_rows = len(X_context)
        self.neighbourhoods_ = None
        max_rows = self._max_context_rows(n_rows)
        if n_rows <= max_rows:
            member_rows = [[np.arange(n_rows)]] * len(self.members_)
        elif self.context_selection == "subsample":
            member_rows = [
                [stratified_subsample(strata, max_rows, rng.integers(2**31))] for _ in self.members_
            ]
        else:
            # Each member clusters with its own seed: a query near a boundary of one
            # clustering sits inside a cluster of another, and the average smooths it.
            retrieval_space = self.normalizers_["quantile"].transform(X_context)
            self.neighbourhoods_ = [
                Neighbourhoods(
                    max_rows, max(max_rows, WHOLE_CONTEXT_ROWS), rng.integers(2**31)
                ).fit(retrieval_space)
                for _ in self.members_
            ]
            member_rows = [neighbourhoods.rows_ for neighbourhoods in self.neighbourhoods_]
        views = [self._member_view(member, X_context) for member in self.members_]
        steps = self._fine_tune_steps(n_rows, member_rows)
        if steps:
            self.model_ = self.model_.fine_tuned(
                partial(self._draw_episode, views, member_rows, y),
                steps,
                FINE_TUNING[self._task].learning_rate,
                seed=int(rng.integers(2**31)),
            )
        self.contexts_ = [
            [self._encode_contexts(member, view[rows], y[rows]) for rows in parts]
            for member, view, parts in zip(self.members_, views, member_rows, strict=True)
        ]

    def _fine_tune_steps(self, n_rows: int, member_rows: list[list[np.ndarray]]) -> int:
        if all(len(rows) < 2 for parts in member_rows for rows in parts):
            return 0  # max_context_rows=1: no context can hold a row out as a query
        if self.fine_tune_steps != "auto":
            return self.fine_tune_steps
        if self.backend == "onnx" or n_rows < MIN_FINE_TUNE_ROWS:
            return 0
        return FINE_TUNING[self._task].steps

    def _draw_episode(
        self,
        views: list[np.ndarray],
        member_rows: list[list[np.ndarray]],
        y: np.ndarray,
        rng: np.random.Generator,
    ) -> Episode:
        """Some rows of one member's context held out as queries, seen as that member sees
        them: its view of the features and its labels (class relabelling, one class
        digit, or target ranks among the rest of the context)."""
        i = rng.integers(len(self.members_))
        member, parts = self.members_[i], member_rows[i]
        # A context of one row has none to spare as a query.
        sizes = np.array([len(rows) if len(rows) > 1 else 0 for rows in parts])
        rows = parts[rng.choice(len(parts), p=sizes / sizes.sum())]
        rows = rng.permutation(rows)[: FINE_TUNING[self._task].episode_rows]
        n_query = max(1, round(EPISODE_QUERY_SHARE * len(rows)))
        context = rows[n_query:]
        if member.relabel is None:
            labels = target_ranks(y[context]).transform(y[rows].reshape(-1, 1)).ravel()
        else:
            digits = digit_labels(len(member.relabel), self.model_.config.n_outputs)
            labels = digits[rng.integers(len(digits))][member.relabel][y[rows]]
        x = views[i][np.concatenate([context, rows[:n_query]])][:, member.features]
        return Episode(x, labels[n_query:], labels[:n_query])

    def _member_view(self, member: Member, X: np.ndarray) -> np.ndarray:
        """Encoded rows ``X`` as ``member`` reads them: its level codes, its normaliser."""
        return self.normalizers_[member.normalizer].transform(member.recode(X))

    def _feature_reduction(self, categorical: np.ndarray) -> str:
        # Ordinal codes of categories have no geometry for PCA to find.
        if self.feature_reduction == "auto":
            return "subsets" if categorical.any() else "pca"
        return self.feature_reduction

    def _selects_features(self) -> bool:
        # On CC18, one member's validated log-loss chose worse columns than all of them
        # (tic-tac-toe 0.041 and cylinder-bands 0.015 of ROC-AUC lost; docs/architecture.md).
        if self.feature_selection == "auto":
            return self._task == "regression"
        return self.feature_selection == "mutual_info"

    def _validation_score(
        self,
        frame: pd.DataFrame,
        y: np.ndarray,
        train: np.ndarray,
        test: np.ndarray,
        columns: np.ndarray,
    ) -> float:
        """How well one member reading ``columns`` of the ``train`` rows predicts ``test``."""
        member = clone(self).set_params(n_estimators=1, feature_selection="none", fine_tune_steps=0)
        member._fit(frame.iloc[train, columns], y[train], network=self.model_)
        return self._held_out_score(member, frame.iloc[test, columns], y[test])

    def _max_context_rows(self, n_rows: int) -> int:
        if self.max_context_rows != "auto":
            return self.max_context_rows
        if n_rows <= WHOLE_CONTEXT_ROWS:
            return WHOLE_CONTEXT_ROWS
        return NEIGHBOURHOOD_ROWS

    def _load_network(self):
        """The network behind ``backend``: a TorchNetwork or an OnnxNetwork."""
        if self.backend == "onnx":
            from tabicl.onnx import OnnxNetwork

            if self.model_path is None:
                raise ValueError(
                    "backend='onnx' needs model_path: the model.onnx (with model.context.onnx "
                    "beside it) written by `python -m tabicl export-onnx --out model.onnx`"
                )
            return OnnxNetwork(self.model_path, device=self.device)
        # torch is imported here, so that the onnx backend runs where torch is missing.
        try:
            import torch
        except ImportError as error:
            raise ImportError(
                "backend='torch' needs PyTorch: install it, or export the network once "
                "(`python -m tabicl export-onnx`) and use backend='onnx'"
            ) from error

        from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
        from tabicl.model import TorchNetwork

        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available; use 'auto'")
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        device = torch.device(auto if self.device == "auto" else self.device)
        path = bundled_checkpoint(self._task) if self.model_path is None else self.model_path
        return TorchNetwork(load_checkpoint(path), device)

    def export_onnx(self, path: str | Path) -> Path:
        """Write the network (``model_path``, or the bundled one) to ``path`` as ONNX.

        Two graphs are written: ``path`` runs queries and the context graph beside it
        (``model.onnx`` -> ``model.context.onnx``) encodes the training table once at
        ``fit``. ``model_path=path`` with ``backend="onnx"`` runs them, without torch.

        Parameters
        ----------
        path : str or Path

        Returns
        -------
        Path
        """
        from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
        from tabicl.onnx import export_onnx

        if self.backend != "torch":
            raise ValueError("export_onnx reads a torch checkpoint: use backend='torch'")
        self._check_params()
        model_path = bundled_checkpoint(self._task) if self.model_path is None else self.model_path
        return export_onnx(load_checkpoint(model_path), path)

    def _encode_contexts(
        self, member: Member, x_context: np.ndarray, y_context: np.ndarray
    ) -> list[LabelTask]:
        """One encoded context per label task of ``member`` (one, or one per class digit)."""
        x = x_context[:, member.features]
        K = self.model_.config.n_outputs
        if member.relabel is None:  # regression: targets as ranks among the context's own
            local = target_ranks(y_context)
            ranks = local.transform(y_context.reshape(-1, 1)).ravel()
            to_training_ranks = rank_transfer(local, self.target_ranks_, K)
            return [LabelTask(None, K, self.model_.encode_context(x, ranks), to_training_ranks)]
        digits = digit_labels(len(member.relabel), K)
        return [
            LabelTask(
                d[member.relabel],
                int(d.max() + 1),
                self.model_.encode_context(x, d[member.relabel][y_context]),
            )
            for d in digits
        ]

    def _predict_rows(self, X) -> np.ndarray:
        """``_combine`` of the members' label-task probabilities, in chunks of rows."""
        check_is_fitted(self)
        frame = as_frame(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        return np.concatenate(
            [
                self._combine(
                    self._member_outputs(frame.iloc[start : start + self.predict_batch_size])
                )
                for start in range(0, len(frame), self.predict_batch_size)
            ]
        )

    def _member_outputs(
        self, frame: pd.DataFrame
    ) -> list[list[tuple[np.ndarray | None, np.ndarray]]]:
        """Per member, per label task: (digit of each class or None, probabilities)."""
        X_query = self.encoder_.transform(frame)
        if self.neighbourhoods_ is not None:
            retrieval_space = self.normalizers_["quantile"].transform(X_query)
        outputs = []
        clusterings = self.neighbourhoods_ or [None] * len(self.members_)
        for member, contexts, clustering in zip(
            self.members_, self.contexts_, clusterings, strict=True
        ):
            if clustering is None:
                parts = np.zeros(len(frame), dtype=int)
            else:
                parts = clustering.assign(retrieval_space)
            x = self._member_view(member, X_query)[:, member.features]
            tasks = [
                (task.class_digits, np.empty((len(frame), task.n_labels))) for task in contexts[0]
            ]
            for part in np.unique(parts):
                rows = parts == part
                for task, (_, probabilities) in zip(contexts[part], tasks, strict=True):
                    logits = self._query_logits(task.context, x[rows])
                    probabilities[rows] = softmax(logits[:, : task.n_labels], axis=1)
                    if task.to_training_ranks is not None:
                        probabilities[rows] @= task.to_training_ranks
            outputs.append(tasks)
        return outputs

    def _query_logits(self, context, x: np.ndarray) -> np.ndarray:
        """The network's logits for the rows ``x``, run padded to whole row blocks."""
        padding = np.zeros((-len(x) % QUERY_ROW_BLOCK, x.shape[1]), dtype=x.dtype)
        return self.model_.predict_logits(context, np.concatenate([x, padding]))[: len(x)]

    def _combine(self, outputs: list[list[tuple[np.ndarray | None, np.ndarray]]]) -> np.ndarray:
        raise NotImplementedError


class LabelTask(NamedTuple):
    """One in-context task of a member: its encoded context and how to read its outputs."""

    class_digits: np.ndarray | None  # the digit each class has here; None for regression
    n_labels: int  # outputs in use: the digit's base, the classes, or every target bin
    context: object  # the network's encoded context
    # Regression: (K, K) from bins of the context's own target ranks to the training set's.
    to_training_ranks: np.ndarray | None = None


class TabICLClassifier(ClassifierMixin, TabICLEstimator):
    """In-context classifier: predicts from the training table with one forward pass.

    ``fit`` fine-tunes a copy of the pretrained network on the training rows for a few
    steps and encodes them once as context; predicting runs that network, in which
    query rows attend to the training rows only. Any number of classes, labels of any
    type, pandas input with numeric, bool, category and string columns, and missing
    values are supported.

    Parameters
    ----------
    n_estimators : int, default=4
        Ensemble members, each with its own feature order, normaliser, coding of
        categorical levels and relabelling of the classes; their probabilities are
        averaged. The first half of the members (rounded up) code a category's levels
        in order of one class's share of each level's training rows, the others in
        random order; levels named by numbers keep their numeric order.
    max_context_rows : int or "auto", default="auto"
        Most training rows one context holds; a larger training set is cut down as
        ``context_selection`` says. "auto": the whole training set up to 2,048 rows,
        and neighbourhoods of about 128 rows beyond, which predicted best on the large
        CC18 and CTR23 sets (benchmarks/RESULTS.md).
    context_selection : {"neighbors", "subsample"}, default="neighbors"
        With more than ``max_context_rows`` training rows: "neighbors" clusters them
        into groups of about ``max_context_rows`` rows and gives each query its nearest
        cluster's rows (a cluster smaller than ``max_context_rows`` is topped up with the
        rows nearest its centre; one above 2,048 rows keeps a random 2,048), each
        member clustering with its own seed; "subsample" gives each member its own
        stratified random subset (faster to fit).
        "neighbors" scored better on the large CC18 and CTR23 sets.
    feature_reduction : {"auto", "pca", "subsets"}, default="auto"
        How a table wider than the network's ``max_features`` columns is read: "pca"
        projects the standardised columns (missing values at the column mean) onto
        their leading principal components, fitted on the training rows; "subsets"
        gives each member its own window of the columns; "auto" is "pca" when every
        column is numeric and "subsets" when some are categorical, the better of the
        two on most wide CC18 sets of each kind (benchmarks/RESULTS.md).
    feature_selection : {"auto", "mutual_info", "none"}, default="auto"
        Which columns the network reads. "mutual_info" ranks the columns by mutual
        information with the target and keeps the top 1, 2, 4, ... or all of them,
        whichever one member predicts best (log-loss) in 3-fold in-context
        cross-validation on up to 2,048 training rows, when it beats all columns by
        more than one standard error; tables under 100 rows keep every column.
        "auto" is "none" for classification: on CC18 that choice (without the
        margin) lost more ROC-AUC than it gained (docs/architecture.md). ``predict``
        still takes every column.
    fine_tune_steps : int or "auto", default="auto"
        Gradient steps ``fit`` takes on the training table before encoding it, on a
        copy of the network (``model_``): each holds out 30% of up to 512 rows of
        one member's context as queries and trains the network to predict them from
        the rest, as pretraining did. "auto": 50 steps (learning rate 2e-4) with
        ``backend="torch"`` on training sets of at least 64 rows, else none; 0 turns
        it off, which makes ``fit`` several times faster (docs/architecture.md,
        "Fine-tuning at fit").
    backend : {"torch", "onnx"}, default="torch"
        "onnx" runs the network exported by :meth:`export_onnx` (``model_path`` names
        its ``.onnx`` file, with the ``.context.onnx`` file beside it) with onnxruntime,
        which needs no torch; "torch" runs the checkpoint with PyTorch.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the network runs: a torch device, or with ``backend="onnx"`` onnxruntime's
        CPU or CUDA provider; "auto" picks CUDA when available.
    predict_batch_size : int, default=1024
        Query rows per forward pass: memory grows with it, results do not change.
    model_path : str or Path, default=None
        Checkpoint directory (``model.safetensors`` + ``config.json``), or the ``.onnx``
        file for ``backend="onnx"``; None uses the classifier bundled with the package.
    random_state : int, RandomState instance or None, default=None
        Seeds the ensemble's feature orders and relabellings.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` had string column names.
    selected_features_ : ndarray of int
        Indices of the columns of ``X`` the network reads (see ``feature_selection``).
    model_ : TorchNetwork or OnnxNetwork
        The network behind ``backend``, fine-tuned on the training table when
        ``fine_tune_steps`` says so; ``model_.config`` is its architecture.
    members_ : list of Member
        The ensemble plan.
    neighbourhoods_ : list of Neighbourhoods or None
        Each member's clustering of the training rows, when there are more than
        ``max_context_rows`` of them and ``context_selection="neighbors"``; else None.

    See Also
    --------
    TabICLRegressor : the same model family for continuous targets.

    Notes
    -----
    With more classes than the network's native outputs (10), every member encodes
    classes as digits in a mixed radix, predicts each digit in context and scores a
    class by the sum of its digits' log-probabilities.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from tabicl import TabICLClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = TabICLClassifier(random_state=0).fit(X[::2], y[::2])
    >>> clf.predict_proba(X[1::2]).shape
    (75, 3)
    """

    _task = "classification"

    def fit(self, X, y):
        """Encode ``X`` and ``y`` once as the context of later predictions.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : TabICLClassifier
        """
        return self._fit(X, y)

    def _fit(self, X, y, network=None):
        frame, y = self._check_fit_input(X, y)
        if pd.isna(y).any():
            raise ValueError("Input y contains NaN; drop those rows or fill in their labels")
        check_classification_targets(y)
        self.label_encoder_ = LabelEncoder().fit(y)
        self.classes_ = self.label_encoder_.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"y has only one class ({self.classes_[0]!r}); a classifier needs at least two"
            )
        y_labels = self.label_encoder_.transform(y)
        self._fit_context(frame, y_labels, len(self.classes_), strata=y_labels, network=network)
        return self

    def _held_out_score(self, member: TabICLClassifier, X, y_labels: np.ndarray) -> float:
        # Over every class of the training set: a fold may miss a rare one.
        probabilities = np.zeros((len(y_labels), len(self.classes_)))
        probabilities[:, member.classes_] = member.predict_proba(X)
        return -log_loss(y_labels, probabilities, labels=np.arange(len(self.classes_)))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of ``X``, in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return self._predict_rows(X)

    def _combine(self, outputs):
        probabilities = []
        for tasks in outputs:
            # A class's score is the sum over digits of its digit's log-probability.
            log_score = sum(np.log(np.clip(p[:, d], 1e-12, None)) for d, p in tasks)
            member_probabilities = np.exp(log_score - log_score.max(axis=1, keepdims=True))
            probabilities.append(
                member_probabilities / member_probabilities.sum(axis=1, keepdims=True)
            )
        return np.mean(probabilities, axis=0)

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row of ``X``."""
        most_probable = self.predict_proba(X).argmax(axis=1)
        return self.classes_[most_probable]


class TabICLRegressor(RegressorMixin, TabICLEstimator):
    """In-context regressor with a predictive distribution for every row.

    The network predicts a distribution over bins of the target's rank among the
    training targets; mapping the bins back through the training targets' quantiles
    gives a distribution in target units. :meth:`predict` returns its mean and
    :meth:`predict_quantiles` any quantiles (``[0.5]`` for the median).

    Parameters
    ----------
    n_estimators : int, default=4
        Ensemble members, each with its own feature order, normaliser and random
        coding of categorical levels (levels named by numbers keep their numeric
        order); their distributions are averaged.
    max_context_rows : int or "auto", default="auto"
        Most training rows one context holds; a larger training set is cut down as
        ``context_selection`` says. "auto": the whole training set up to 2,048 rows,
        and neighbourhoods of about 128 rows beyond, which predicted best on the large
        CC18 and CTR23 sets (benchmarks/RESULTS.md).
    context_selection : {"neighbors", "subsample"}, default="neighbors"
        With more than ``max_context_rows`` training rows: "neighbors" clusters them
        into groups of about ``max_context_rows`` rows and gives each query its nearest
        cluster's rows (a cluster smaller than ``max_context_rows`` is topped up with the
        rows nearest its centre; one above 2,048 rows keeps a random 2,048), each
        member clustering with its own seed; "subsample" gives each member its own
        stratified random subset (faster to fit).
        "neighbors" scored better on the large CC18 and CTR23 sets.
    feature_reduction : {"auto", "pca", "subsets"}, default="auto"
        How a table wider than the network's ``max_features`` columns is read: "pca"
        projects the standardised columns (missing values at the column mean) onto
        their leading principal components, fitted on the training rows; "subsets"
        gives each member its own window of the columns; "auto" is "pca" when every
        column is numeric and "subsets" when some are categorical, the better of the
        two on most wide CC18 sets of each kind (benchmarks/RESULTS.md).
    feature_selection : {"auto", "mutual_info", "none"}, default="auto"
        Which columns the network reads. "mutual_info" ranks the columns by mutual
        information with the target and keeps the top 1, 2, 4, ... or all of them,
        whichever one member predicts best (R²) in 3-fold in-context cross-validation
        on up to 2,048 training rows, when it beats all columns by more than one
        standard error; tables under 100 rows keep every column. "auto"
        is "mutual_info" for regression: the network does not learn to ignore columns
        without signal (pumadyn32nh, docs/architecture.md). ``predict`` still takes
        every column.
    fine_tune_steps : int or "auto", default="auto"
        Gradient steps ``fit`` takes on the training table before encoding it, on a
        copy of the network (``model_``): each holds out 30% of up to 1,024 rows of
        one member's context as queries and trains the network to predict them from
        the rest, as pretraining did. "auto": 100 steps (learning rate 1e-4) with
        ``backend="torch"`` on training sets of at least 64 rows, else none; 0 turns
        it off, which makes ``fit`` several times faster (docs/architecture.md,
        "Fine-tuning at fit").
    backend : {"torch", "onnx"}, default="torch"
        "onnx" runs the network exported by :meth:`export_onnx` (``model_path`` names
        its ``.onnx`` file, with the ``.context.onnx`` file beside it) with onnxruntime,
        which needs no torch; "torch" runs the checkpoint with PyTorch.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Where the network runs: a torch device, or with ``backend="onnx"`` onnxruntime's
        CPU or CUDA provider; "auto" picks CUDA when available.
    predict_batch_size : int, default=1024
        Query rows per forward pass: memory grows with it, results do not change.
    model_path : str or Path, default=None
        Checkpoint directory, or the ``.onnx`` file for ``backend="onnx"``; None uses
        the regressor bundled with the package.
    random_state : int, RandomState instance or None, default=None
        Seeds the ensemble's feature orders.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen in ``fit``, when ``X`` had string column names.
    target_ranks_ : QuantileTransformer
        Maps targets to ranks in [0, 1] and back.
    selected_features_ : ndarray of int
        Indices of the columns of ``X`` the network reads (see ``feature_selection``).
    model_ : TorchNetwork or OnnxNetwork
        The network behind ``backend``, fine-tuned on the training table when
        ``fine_tune_steps`` says so; ``model_.config`` is its architecture.
    members_ : list of Member
        The ensemble plan.
    neighbourhoods_ : list of Neighbourhoods or None
        Each member's clustering of the training rows, when there are more than
        ``max_context_rows`` of them and ``context_selection="neighbors"``; else None.

    See Also
    --------
    TabICLClassifier : the same model family for classes.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from tabicl import TabICLRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = TabICLRegressor(random_state=0).fit(X[::2], y[::2])
    >>> reg.predict_quantiles(X[1::2], [0.1, 0.5, 0.9]).shape
    (221, 3)
    """

    _task = "regression"

    def fit(self, X, y):
        """Encode ``X`` and ``y`` once as the context of later predictions.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : TabICLRegressor
        """
        return self._fit(X, y)

    def _fit(self, X, y, network=None):
        frame, y = self._check_fit_input(X, y)
        try:
            y = y.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"y must be numeric for regression: {error}") from error
        if np.isnan(y).any():
            raise ValueError("Input y contains NaN; drop those rows or fill in their targets")
        if np.isinf(y).any():
            raise ValueError("Input y contains infinity; drop those rows or clip the targets")
        self.target_ranks_ = target_ranks(y)
        ranks = self.target_ranks_.transform(y.reshape(-1, 1)).ravel()
        # Each context reads its rows' targets as ranks among themselves (see _encode_contexts).
        # Subsamples keep the proportions of ten bands of target ranks.
        strata = np.minimum(ranks * 10, 9).astype(int)
        self._fit_context(frame, y, None, strata=strata, network=network)
        return self

    def _held_out_score(self, member: TabICLRegressor, X, y: np.ndarray) -> float:
        return r2_score(y, member.predict(X))

    def predict_distribution(self, X) -> np.ndarray:
        """Probabilities of the target-rank bins, averaged over the ensemble.

        Bin ``k`` of ``K`` holds ranks in ``[k / K, (k + 1) / K)`` among the training
        targets.

        Returns
        -------
        ndarray of shape (n_samples, K)
        """
        return self._predict_rows(X)

    def _combine(self, outputs):
        return np.mean([tasks[0][1] for tasks in outputs], axis=0)

    def predict(self, X) -> np.ndarray:
        """Mean of the predictive distribution of each row of ``X``."""
        probabilities = self.predict_distribution(X)
        n_bins = probabilities.shape[1]
        # The rank-to-target map is piecewise linear: average it over each bin.
        ranks = bin_points(n_bins)
        values = self.target_ranks_.inverse_transform(ranks.reshape(-1, 1)).reshape(ranks.shape)
        return probabilities @ values.mean(axis=1)

    def predict_quantiles(self, X, quantiles=(0.1, 0.5, 0.9)) -> np.ndarray:
        """Quantiles of the predictive distribution of each row of ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        quantiles : sequence of float in (0, 1)

        Returns
        -------
        ndarray of shape (n_samples, len(quantiles))
        """
        quantiles = np.asarray(quantiles, dtype=np.float64)
        if quantiles.ndim != 1 or np.any((quantiles <= 0) | (quantiles >= 1)):
            raise ValueError(f"quantiles must be a 1-D sequence in (0, 1), got {quantiles!r}")
        probabilities = self.predict_distribution(X)
        n_bins = probabilities.shape[1]
        cdf = np.concatenate(
            [np.zeros((len(probabilities), 1)), probabilities.cumsum(axis=1)], axis=1
        )
        edges = np.arange(n_bins + 1) / n_bins
        ranks = np.stack([[np.interp(q, row, edges) for q in quantiles] for row in cdf])
        return self.target_ranks_.inverse_transform(ranks.reshape(-1, 1)).reshape(ranks.shape)
