"""scikit-learn estimators around the pretrained tabular in-context model."""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    check_random_state,
    column_or_1d,
    validate_data,
)

from tabicl.checkpoint import bundled_checkpoint, load_checkpoint
from tabicl.ensemble import Member, digit_labels, plan_members
from tabicl.preprocessing import NORMALIZERS, TableEncoder, as_frame, make_normalizer, target_ranks


class TabICLEstimator(BaseEstimator):
    """Fit stores the encoded training table; predict runs the pretrained model on it.

    Parameters
    ----------
    n_estimators : int, default=4
        Ensemble members, each with its own feature order, normaliser and (for
        classification) relabelling of the classes; their predictions are averaged.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" picks CUDA when available.
    predict_batch_size : int, default=1024
        Query rows per forward pass: memory grows with it, results do not change.
    model_path : str or Path, default=None
        Checkpoint directory (``model.safetensors`` + ``config.json``); None uses the
        checkpoint bundled with the package.
    random_state : int, RandomState instance or None, default=None
        Seeds the ensemble's feature orders and relabellings.
    """

    _task: str

    def __init__(
        self,
        n_estimators: int = 4,
        *,
        device: str = "auto",
        predict_batch_size: int = 1024,
        model_path: str | Path | None = None,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.n_estimators = n_estimators
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
        for name in ("n_estimators", "predict_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
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
        self, frame: pd.DataFrame, y_labels: np.ndarray, n_classes: int | None
    ) -> None:
        """Everything ``fit`` learns apart from the target encoding."""
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available; use 'auto'")
        auto = "cuda" if torch.cuda.is_available() else "cpu"
        self.device_ = torch.device(auto if self.device == "auto" else self.device)
        path = bundled_checkpoint(self._task) if self.model_path is None else self.model_path
        self.model_ = load_checkpoint(path).to(self.device_)
        if self.model_.config.task != self._task:
            raise ValueError(
                f"model_path={str(path)!r} holds a {self.model_.config.task} model; "
                f"{type(self).__name__} needs a {self._task} model"
            )
        self.encoder_ = TableEncoder().fit(frame)
        X_context = self.encoder_.transform(frame)
        self.normalizers_ = {
            kind: make_normalizer(kind, len(X_context)).fit(X_context)
            for kind in NORMALIZERS[: min(self.n_estimators, len(NORMALIZERS))]
        }
        self.context_ = {kind: n.transform(X_context) for kind, n in self.normalizers_.items()}
        self.y_context_ = y_labels
        rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        self.members_ = plan_members(
            self.n_estimators, X_context.shape[1], self.model_.config.max_features, n_classes, rng
        )

    def _member_outputs(self, X) -> list[tuple[Member, list[tuple[np.ndarray | None, np.ndarray]]]]:
        """Per member, its label tasks as (digits of each class or None, probabilities)."""
        check_is_fitted(self)
        frame = as_frame(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        X_query = self.encoder_.transform(frame)
        queries = {kind: n.transform(X_query) for kind, n in self.normalizers_.items()}
        outputs = []
        for member in self.members_:
            x_query = queries[member.normalizer][:, member.features]
            x_context = self.context_[member.normalizer][:, member.features]
            if member.relabel is None:
                tasks = [(None, self.y_context_)]
            else:
                digits = digit_labels(len(member.relabel), self.model_.config.n_outputs)
                tasks = [(d[member.relabel], d[member.relabel][self.y_context_]) for d in digits]
            outputs.append(
                (
                    member,
                    [
                        (class_digits, self._predict_probabilities(x_context, labels, x_query))
                        for class_digits, labels in tasks
                    ],
                )
            )
        return outputs

    @torch.inference_mode()
    def _predict_probabilities(self, x_context, y_context, x_query) -> np.ndarray:
        """Softmax of the model's outputs for ``x_query``, in chunks of query rows."""
        context = torch.as_tensor(x_context, dtype=torch.float32, device=self.device_)
        labels = torch.as_tensor(y_context, dtype=torch.float32, device=self.device_)[None]
        chunks = []
        for start in range(0, len(x_query), self.predict_batch_size):
            query = torch.as_tensor(
                x_query[start : start + self.predict_batch_size],
                dtype=torch.float32,
                device=self.device_,
            )
            logits = self.model_(torch.cat([context, query])[None], labels)[0]
            chunks.append(logits.float())
        logits = torch.cat(chunks)
        if self.model_.config.task == "classification":
            logits = logits[:, : int(y_context.max()) + 1]
        return torch.softmax(logits, dim=-1).cpu().numpy().astype(np.float64)


class TabICLClassifier(ClassifierMixin, TabICLEstimator):
    """In-context classifier: predicts from the training table with one forward pass.

    ``fit`` stores the training rows as context and makes no gradient step; predicting
    runs the pretrained transformer, in which query rows attend to the training rows
    only. Any number of classes, labels of any type, pandas input with numeric,
    bool, category and string columns, and missing values are supported.

    Parameters
    ----------
    n_estimators : int, default=4
        Ensemble members, each with its own feature order, normaliser and relabelling
        of the classes; their probabilities are averaged.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" picks CUDA when available.
    predict_batch_size : int, default=1024
        Query rows per forward pass: memory grows with it, results do not change.
    model_path : str or Path, default=None
        Checkpoint directory (``model.safetensors`` + ``config.json``); None uses the
        classifier bundled with the package.
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
    model_ : TabularICL
        The pretrained network.
    members_ : list of Member
        The ensemble plan.

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
        """Store ``X`` and ``y`` as the context of later predictions.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : TabICLClassifier
        """
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
        self._fit_context(frame, self.label_encoder_.transform(y), len(self.classes_))
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of ``X``, in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        probabilities = []
        for _, tasks in self._member_outputs(X):
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
        Ensemble members, each with its own feature order and normaliser; their
        distributions are averaged.
    device : {"auto", "cpu", "cuda"} or str, default="auto"
        Torch device; "auto" picks CUDA when available.
    predict_batch_size : int, default=1024
        Query rows per forward pass: memory grows with it, results do not change.
    model_path : str or Path, default=None
        Checkpoint directory; None uses the regressor bundled with the package.
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
    model_ : TabularICL
        The pretrained network.

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
        """Store ``X`` and ``y`` as the context of later predictions.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : TabICLRegressor
        """
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
        self._fit_context(frame, self.target_ranks_.transform(y.reshape(-1, 1)).ravel(), None)
        return self

    def predict_distribution(self, X) -> np.ndarray:
        """Probabilities of the target-rank bins, averaged over the ensemble.

        Bin ``k`` of ``K`` holds ranks in ``[k / K, (k + 1) / K)`` among the training
        targets.

        Returns
        -------
        ndarray of shape (n_samples, K)
        """
        return np.mean([tasks[0][1] for _, tasks in self._member_outputs(X)], axis=0)

    def predict(self, X) -> np.ndarray:
        """Mean of the predictive distribution of each row of ``X``."""
        probabilities = self.predict_distribution(X)
        n_bins = probabilities.shape[1]
        # The rank-to-target map is piecewise linear: average it over each bin.
        ranks = (np.arange(n_bins)[:, None] + (np.arange(16) + 0.5) / 16) / n_bins
        values = self.target_ranks_.inverse_transform(ranks.reshape(-1, 1)).reshape(n_bins, 16)
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
