"""Gaussian naive Bayes and 15-nearest-neighbours on CC18 sets, 3 folds: the diagnosis
in docs/pretraining.md that the network without distance attention read contexts like
naive Bayes::

    OMP_NUM_THREADS=1 python benchmarks/checks/naive_bayes.py
"""

from sklearn.impute import SimpleImputer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, OrdinalEncoder, QuantileTransformer

from benchmarks.datasets import DEFAULT_DATA_DIR, model_ready, parquet_suite

entries = {e.name: e for e in parquet_suite(DEFAULT_DATA_DIR, "cc18")}
for name in [
    "tic-tac-toe",
    "vehicle",
    "pc1",
    "cylinder-bands",
    "churn",
    "banknote-authentication",
    "wall-robot-navigation",
    "vowel",
]:
    t = entries[name].load()
    X = model_ready(t.X)
    y = LabelEncoder().fit_transform(t.y)
    cats = X.select_dtypes("category").columns
    Xn = X.copy()
    if len(cats):
        Xn[cats] = OrdinalEncoder().fit_transform(X[cats].astype(str))
    Xn = Xn.astype(float).to_numpy()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    sc = "roc_auc_ovr" if y.max() > 1 else "roc_auc"
    r = {}
    r["gnb"] = cross_val_score(
        make_pipeline(
            SimpleImputer(),
            QuantileTransformer(output_distribution="normal", n_quantiles=200),
            GaussianNB(),
        ),
        Xn,
        y,
        cv=cv,
        scoring=sc,
    ).mean()
    r["knn15"] = cross_val_score(
        make_pipeline(
            SimpleImputer(),
            QuantileTransformer(output_distribution="normal", n_quantiles=200),
            KNeighborsClassifier(15, weights="distance"),
        ),
        Xn,
        y,
        cv=cv,
        scoring=sc,
    ).mean()
    print(name, {k: round(v, 4) for k, v in r.items()})
