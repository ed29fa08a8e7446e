"""From a user's table to the float matrix the model reads, as scikit-learn transformers.

:class:`TableEncoder` turns mixed columns (numbers, bools, categories, strings,
missing values) into floats with NaN for missing, once per ``fit``.
:func:`principal_components` reads tables wider than the network through their
principal axes. :func:`make_normalizer` builds the per-column scaling that ensemble members vary;
pretraining applies the same normalizers to its synthetic tables.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OrdinalEncoder,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)
from sklearn.utils.validation import check_array, check_is_fitted

NORMALIZERS = ("quantile", "robust")


def as_frame(X) -> pd.DataFrame:
    """``X`` as a DataFrame, with scikit-learn's messages for sparse, 1-D or empty input."""
    if isinstance(X, pd.DataFrame):
        check_array(np.zeros(X.shape), ensure_min_samples=1, ensure_min_features=1)
        return X
    X = check_array(X, dtype=None, ensure_all_finite=False, ensure_min_samples=1)
    return pd.DataFrame(X)


def _is_categorical(column: pd.Series) -> bool:
    """Category and string columns, and object columns holding text, are categorical."""
    if column.dtype != object:
        return isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            column.dtype
        )
    values = column[column.notna()]
    if values.map(lambda v: isinstance(v, (numbers.Number, np.bool_))).all():
        return False
    bad = values[~values.map(lambda v: isinstance(v, (str, numbers.Number, np.bool_)))]
    if len(bad):
        raise TypeError(
            f"column {column.name!r} holds a value of type {type(bad.iloc[0]).__name__} "
            f"({bad.iloc[0]!r}) at row {bad.index[0]!r}: argument must be a string or a "
            "number; convert such cells to strings or numbers first"
        )
    return True


class TableEncoder(TransformerMixin, BaseEstimator):
    """Encode a mixed-type table as floats, with NaN wherever a value is missing.

    Numeric and bool columns become floats. Category, string and text-holding object
    columns become ordinal codes, in sorted order of the level names, or in numeric
    order when every level name is a number ("2" < "10"); a category first seen at
    ``transform`` time, like a missing value, becomes NaN, which the model reads as
    missing.

    Attributes
    ----------
    categorical_columns_ : ndarray of bool of shape (n_features,)
        Which columns were encoded as categories.
    numbered_levels_ : ndarray of bool of shape (n_features,)
        Which categorical columns have only numbers for level names, so that their
        codes follow an order that means something.
    ordinal_encoder_ : OrdinalEncoder or None
        The encoder of the categorical columns, if any.
    """

    def fit(self, X, y=None):
        frame = as_frame(X)
        self.categorical_columns_ = np.array([_is_categorical(frame[c]) for c in frame.columns])
        self.numbered_levels_ = np.zeros_like(self.categorical_columns_)
        self.ordinal_encoder_ = None
        if self.categorical_columns_.any():
            text = self._categories_as_text(frame)
            levels = [np.unique(column[pd.notna(column)]) for column in text.T]
            numbers = [pd.to_numeric(pd.Series(names), errors="coerce") for names in levels]
            numbered = np.array([len(n) > 0 and n.notna().all() for n in numbers])
            self.numbered_levels_[self.categorical_columns_] = numbered
            self.ordinal_encoder_ = OrdinalEncoder(
                # A trailing NaN category keeps missing values missing (as "auto" does).
                categories=[
                    np.append(names[np.argsort(n.to_numpy())] if is_numbered else names, np.nan)
                    for names, n, is_numbered in zip(levels, numbers, numbered, strict=True)
                ],
                handle_unknown="use_encoded_value",
                unknown_value=np.nan,
                encoded_missing_value=np.nan,
            ).fit(text)
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        frame = as_frame(X)
        out = np.empty(frame.shape, dtype=np.float64)
        numeric = ~self.categorical_columns_
        if numeric.any():
            values = frame.loc[:, numeric]
            try:
                values = values.astype("float64")
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"a numeric column at fit time cannot be read as numbers now: {error}"
                ) from error
            out[:, numeric] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isinf(out[:, numeric]).any():
                rows, cols = np.nonzero(np.isinf(out))
                raise ValueError(
                    f"Input X contains infinity (first at row {rows[0]}, column "
                    f"{frame.columns[cols[0]]!r}); replace it with a finite value or NaN"
                )
        if self.ordinal_encoder_ is not None:
            out[:, self.categorical_columns_] = self.ordinal_encoder_.transform(
                self._categories_as_text(frame)
            )
        return out

    def _categories_as_text(self, frame: pd.DataFrame) -> np.ndarray:
        columns = frame.loc[:, self.categorical_columns_].astype(object)
        return columns.map(lambda v: np.nan if pd.isna(v) else str(v)).to_numpy(dtype=object)


def principal_components(n_components: int, random_state: int) -> TransformerMixin:
    """Standardise, fill missing values with the column mean, project onto PCA axes.

    How a table wider than the network is read by default: every column contributes
    to every component, where a window of columns would leave most of them out.
    """
    return make_pipeline(
        StandardScaler(),
        SimpleImputer(strategy="constant", fill_value=0.0, keep_empty_features=True),
        PCA(n_components, random_state=random_state),
    )


def make_normalizer(kind: str, n_rows: int) -> TransformerMixin:
    """Per-column scaling, fitted on the context rows, that keeps NaN as NaN.

    ``"quantile"`` maps each column through its empirical CDF to a standard normal;
    ``"robust"`` centres on the median, scales by the interquartile range and clips
    at 5 so that outliers cannot dominate.
    """
    if kind == "quantile":
        return QuantileTransformer(
            output_distribution="normal", n_quantiles=max(2, min(n_rows, 1000)), subsample=None
        )
    if kind == "robust":
        return make_pipeline(
            RobustScaler(unit_variance=True),
            FunctionTransformer(np.clip, kw_args={"a_min": -5.0, "a_max": 5.0}),
        )
    raise ValueError(f"unknown normalizer {kind!r}; expected one of {NORMALIZERS}")


def bin_points(n_bins: int, per_bin: int = 16) -> np.ndarray:
    """(n_bins, per_bin) evenly spread ranks inside each of ``n_bins`` bins of [0, 1]."""
    return (np.arange(n_bins)[:, None] + (np.arange(per_bin) + 0.5) / per_bin) / n_bins


def rank_transfer(
    local: QuantileTransformer, reference: QuantileTransformer, n_bins: int
) -> np.ndarray:
    """(n_bins, n_bins): the share of each bin of ``local``'s target ranks that falls in
    each bin of ``reference``'s, for a mass spread evenly over each local bin.

    A context of a few training rows reads its targets as ranks among themselves, the
    way the network was trained; this maps what it predicts onto the ranks of the whole
    training set, where the ensemble averages.
    """
    points = bin_points(n_bins)
    values = local.inverse_transform(points.reshape(-1, 1))
    ranks = reference.transform(values).reshape(points.shape)
    bins = np.minimum((ranks * n_bins).astype(int), n_bins - 1)
    transfer = np.zeros((n_bins, n_bins))
    np.add.at(transfer, (np.repeat(np.arange(n_bins), points.shape[1]), bins.ravel()), 1.0)
    return transfer / points.shape[1]


def target_ranks(y_context: np.ndarray) -> QuantileTransformer:
    """Fit the map from regression targets to ranks in [0, 1] the model reads."""
    return QuantileTransformer(
        output_distribution="uniform",
        n_quantiles=max(2, min(len(y_context), 1000)),
        subsample=None,
    ).fit(np.asarray(y_context, dtype=np.float64).reshape(-1, 1))
