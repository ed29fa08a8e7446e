"""The models a practitioner would otherwise use, as scikit-learn estimators.

Every model runs at its library's default settings with a fixed seed and ``threads``
threads; preprocessing is the standard one for its kind: the GBDTs read pandas
``category`` columns natively and missing values as such, the random forest gets
ordinal-encoded categories (scikit-learn's trees handle NaN), and the linear models get
imputation, scaling and one-hot encoding. ``tuned`` wraps a GBDT in a time-budgeted
random search (:class:`TimeBudgetSearch`).
"""

from __future__ import annotations

import hashlib
import re
import time
from importlib import import_module
from itertools import chain

import numpy as np
import pandas as pd
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import get_scorer, log_loss, make_scorer
from sklearn.model_selection import ParameterSampler, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

import tabicl
from benchmarks.reporting import package_source
from tabicl import TabICLClassifier, TabICLRegressor
from tabicl.checkpoint import WEIGHTS, bundled_checkpoint

MODELS = ("ours", "xgboost", "lightgbm", "catboost", "rf", "linear")
GBDTS = ("xgboost", "lightgbm", "catboost")
TUNED = "-tuned"

# Random-search spaces in the spirit of Grinsztajn et al. (2022); names are the final
# pipeline step's parameters.
SEARCH_SPACES = {
    "xgboost": {
        "n_estimators": randint(100, 1000),
        "learning_rate": loguniform(1e-2, 0.3),
        "max_depth": randint(2, 11),
        "subsample": uniform(0.5, 0.5),
        "colsample_bytree": uniform(0.5, 0.5),
        "min_child_weight": loguniform(1, 100),
        "reg_lambda": loguniform(1e-2, 10),
    },
    "lightgbm": {
        "n_estimators": randint(100, 1000),
        "learning_rate": loguniform(1e-2, 0.3),
        "num_leaves": randint(8, 128),
        "min_child_samples": randint(5, 100),
        "subsample": uniform(0.5, 0.5),
        "subsample_freq": [1],
        "colsample_bytree": uniform(0.5, 0.5),
        "reg_lambda": loguniform(1e-2, 10),
    },
    "catboost": {
        "iterations": randint(200, 1000),
        "learning_rate": loguniform(1e-2, 0.3),
        "depth": randint(4, 10),
        "l2_leaf_reg": loguniform(1, 10),
    },
}


def linear_pipeline(model: BaseEstimator) -> Pipeline:
    """Impute, scale numbers, one-hot categories: the standard linear baseline."""
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
    )
    return make_pipeline(
        make_column_transformer(
            (numeric, make_column_selector(dtype_include="number")),
            (categorical, make_column_selector(dtype_exclude="number")),
        ),
        model,
    )


def _categories_as_strings(X: pd.DataFrame) -> pd.DataFrame:
    """CatBoost reads categories as strings and rejects missing ones: those become "nan"."""
    categorical = X.select_dtypes("category").columns
    return X.astype({c: object for c in categorical}).fillna({c: "nan" for c in categorical})


def _plain_column_names(X: pd.DataFrame) -> pd.DataFrame:
    """Column names of letters, digits and "_" only, each other character spelled as
    ``_x<code>_``, so that distinct names stay distinct: XGBoost rejects "[", "]", "<"
    and LightGBM JSON's special characters (spambase has "char_freq_[" and "char_freq_(")."""
    return X.rename(columns=lambda c: re.sub(r"\W", lambda m: f"_x{ord(m.group())}_", str(c)))


def _default_model(name: str, task: str, categorical: list[str], threads: int, seed: int):
    classify = task == "classification"
    if name == "ours":
        return (TabICLClassifier if classify else TabICLRegressor)(random_state=seed)
    if name == "xgboost":
        from xgboost import XGBClassifier, XGBRegressor

        model = (XGBClassifier if classify else XGBRegressor)(
            enable_categorical=True, n_jobs=threads, random_state=seed
        )
        return make_pipeline(FunctionTransformer(_plain_column_names), model)
    if name == "lightgbm":
        from lightgbm import LGBMClassifier, LGBMRegressor

        model = (LGBMClassifier if classify else LGBMRegressor)(
            n_jobs=threads, random_state=seed, verbose=-1
        )
        return make_pipeline(FunctionTransformer(_plain_column_names), model)
    if name == "catboost":
        from catboost import CatBoostClassifier, CatBoostRegressor

        model = (CatBoostClassifier if classify else CatBoostRegressor)(
            cat_features=tuple(categorical),  # a list would be copied, which breaks clone()
            thread_count=threads,
            random_seed=seed,
            verbose=False,
            allow_writing_files=False,
        )
        return make_pipeline(FunctionTransformer(_categories_as_strings), model)
    if name == "rf":
        encode = make_column_transformer(
            (
                OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan),
                make_column_selector(dtype_include="category"),
            ),
            remainder="passthrough",
        )
        forest = RandomForestClassifier if classify else RandomForestRegressor
        return make_pipeline(encode, forest(n_jobs=threads, random_state=seed))
    if name == "linear":
        return linear_pipeline(LogisticRegression(max_iter=1000) if classify else Ridge())
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def make_model(
    name: str,
    task: str,
    *,
    categorical: list[str],
    threads: int,
    seed: int,
    tuned_seconds: float = 0.0,
) -> BaseEstimator:
    """A fresh estimator for ``name`` (one of :data:`MODELS`, or ``<gbdt>-tuned``).

    Parameters
    ----------
    name : str
        ``"ours"``, ``"xgboost"``, ``"lightgbm"``, ``"catboost"``, ``"rf"``, ``"linear"``,
        or a GBDT name followed by ``"-tuned"``.
    task : {"classification", "regression"}
    categorical : list of str
        Names of the ``category`` columns (CatBoost must be told them).
    threads : int
        Threads for the models that take a thread count.
    seed : int
        Seed of every random choice the model makes.
    tuned_seconds : float, default=0.0
        Search budget of a ``-tuned`` model.
    """
    base = name.removesuffix(TUNED)
    model = _default_model(base, task, categorical, threads, seed)
    if name == base:
        return model
    if base not in GBDTS or tuned_seconds <= 0:
        raise ValueError(
            f"{name!r}: only {', '.join(GBDTS)} have a tuned variant, which needs tuned_seconds > 0"
        )
    step = f"{model.steps[-1][0]}__" if isinstance(model, Pipeline) else ""
    space = {step + key: value for key, value in SEARCH_SPACES[base].items()}
    return TimeBudgetSearch(model, space, seconds=tuned_seconds, random_state=seed)


_TABICL_CODE = package_source(tabicl)


def model_version(name: str, task: str, tuned_seconds: float = 0.0) -> str:
    """What must change for a finished result of ``name`` to be recomputed.

    Ours is identified by the bundled checkpoint's weights and the code of the ``tabicl``
    package that reads them (SHA-256, 12 hex digits): a change of either, such as a new
    default, recomputes its results. The peers are identified by their library's
    version (and the tuning budget).
    """
    base = name.removesuffix(TUNED)
    if base == "ours":
        digest = hashlib.sha256((bundled_checkpoint(task) / WEIGHTS).read_bytes())
        digest.update(_TABICL_CODE)
        return "tabicl-" + digest.hexdigest()[:12]
    module = {"rf": "sklearn", "linear": "sklearn"}.get(base, base)
    try:
        label = f"{module} {import_module(module).__version__}"
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{name!r} needs {module}: pip install -e '.[benchmarks]'"
        ) from error
    return label + (f" tuned {tuned_seconds:g}s" if name != base else "")


class TimeBudgetSearch(MetaEstimatorMixin, BaseEstimator):
    """Random search on a hold-out split until a time budget is spent, then refit.

    The library defaults are tried first, so the search never does worse than them on
    the hold-out split. Candidates are scored by log-loss (classification) or RMSE.

    Parameters
    ----------
    estimator : estimator
        The model to tune.
    param_distributions : dict
        Parameter name to a list or a scipy.stats distribution, as in
        :class:`~sklearn.model_selection.ParameterSampler`.
    seconds : float, default=60.0
        Wall-clock budget of the search; the final refit comes on top of it.
    validation_fraction : float, default=0.2
        Share of the training rows held out to score candidates.
    random_state : int or None, default=None
        Seeds the split and the candidates.

    Attributes
    ----------
    best_params_ : dict
        The winning candidate (empty when the defaults won).
    best_estimator_ : estimator
        The winner refitted on all the training rows.
    n_candidates_ : int
        Candidates scored within the budget.
    """

    def __init__(
        self,
        estimator,
        param_distributions: dict,
        *,
        seconds: float = 60.0,
        validation_fraction: float = 0.2,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.seconds = seconds
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def fit(self, X, y):
        """Search, then refit the best candidate on all of ``X``, ``y``."""
        started = time.perf_counter()
        X_fit, X_valid, y_fit, y_valid = train_test_split(
            X, y, test_size=self.validation_fraction, random_state=self.random_state
        )
        if is_classifier(self.estimator):
            scorer = make_scorer(
                log_loss,
                response_method="predict_proba",
                greater_is_better=False,
                labels=np.unique(y),
            )
        else:
            scorer = get_scorer("neg_root_mean_squared_error")
        candidates = ParameterSampler(
            self.param_distributions, n_iter=10**6, random_state=self.random_state
        )
        best_score, self.best_params_, self.n_candidates_ = -np.inf, {}, 0
        for params in chain([{}], candidates):
            if self.n_candidates_ and time.perf_counter() - started > self.seconds:
                break
            model = clone(self.estimator).set_params(**params).fit(X_fit, y_fit)
            score = scorer(model, X_valid, y_valid)
            self.n_candidates_ += 1
            if score > best_score:
                best_score, self.best_params_ = score, params
        self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_).fit(X, y)
        if is_classifier(self.estimator):
            self.classes_ = self.best_estimator_.classes_
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        searched = get_tags(self.estimator)
        tags.estimator_type = searched.estimator_type
        tags.classifier_tags = searched.classifier_tags
        tags.regressor_tags = searched.regressor_tags
        return tags

    def predict(self, X) -> np.ndarray:
        """Predictions of the refitted best candidate."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities of the refitted best candidate."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)
