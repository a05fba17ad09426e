"""A scikit-learn estimator over cardseg: :class:`CardsegKMeans`.

It is cardseg's whole clustering step in one estimator: missing values filled (median by
default), every feature min-max scaled to [0, 1] on the training data, then K-Means
(k-means++ restarts, the best of ``n_init``), segments renumbered largest first. So:

* ``cluster_centers_`` are in the features' own units (the scaled centroids mapped back);
* ``inertia_`` and ``transform`` distances are in the scaled space, where the clustering
  happens (``scaled_centers_`` holds the centroids there);
* ``labels_`` are 0-based segment indices (cardseg's segment id minus one); segment 0 is
  the largest;
* ``n_clusters="auto"`` chooses k like ``cardseg run --k auto`` (knee of the inertia curve
  between ``k_min`` and ``k_max``, or the silhouette with ``k_rule="silhouette"``); the
  chosen k is ``n_clusters_`` and the sweep ``k_selection_``. :func:`k_search` does the
  same as a function. Do not choose k with ``GridSearchCV`` and the default ``score``
  (minus the inertia): the inertia always falls as k grows, so it picks the largest k;
* a DataFrame's column names are the features' names (``feature_names_in_``), so the
  segment names (``segment_names_``) are those ``cardseg run`` gives the same columns;
  a NumPy array's columns are named ``x0``, ``x1``, ...;
* ``transform`` gives the distance to every centroid, computed by the Rust library (the
  distance segments are assigned by); ``set_output(transform="pandas")`` names its
  columns ``cardsegkmeans0``, ``cardsegkmeans1``, ...;
* ``random_state`` must be an int (cardseg's ``--seed``); None means 42, a
  ``RandomState`` gives an int drawn from it.

``fit_predict(X)`` with ``n_clusters=k``, ``random_state=s`` gives the labels of
``cardseg run --k k --k-min k --k-max k --seed s`` on the same columns (minus one).

scikit-learn's ``check_estimator`` passes except for the checks listed in
:data:`SKIPPED_CHECKS`, each with the reason.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

import cardseg

_ONE = (
    "the check sets n_clusters=1; cardseg segments into k >= 2 (one segment is no "
    "segmentation), so fit raises UsageError (a ValueError) instead"
)

#: scikit-learn checks the estimator does not pass, and why (``check_estimator``'s
#: ``expected_failed_checks``; tests/python/test_package.py runs every other check).
#: ``cardseg run``'s defaults, from the Rust library.
_D = cardseg.defaults()

SKIPPED_CHECKS: dict = {
    "check_dont_overwrite_parameters": _ONE,
    "check_methods_subset_invariance": _ONE,
    "check_fit2d_1feature": _ONE,
    "check_fit2d_predict1d": _ONE,
}


def _seed(random_state) -> int:
    if random_state is None:
        return _D["seed"]
    if isinstance(random_state, numbers.Integral):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative int, not {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise ValueError(f"random_state must be an int, None or a RandomState, not {random_state!r}")


def _table(X: np.ndarray, names):
    import pyarrow as pa

    return pa.Table.from_arrays([pa.array(X[:, j], from_pandas=True) for j in range(X.shape[1])], names=names)


class CardsegKMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Min-max scaling + K-Means, as ``cardseg run`` does it (see the module docstring).

    Parameters are those of ``cardseg run``: ``n_clusters`` (``--k``, an int >= 2 or
    "auto"), ``k_min``/``k_max``/``k_rule`` (only with "auto"), ``n_init``, ``missing``
    ("median", "mean" or "drop"; NaN in X are missing values), ``random_state`` (``--seed``).
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        k_min=_D["k_min"],
        k_max=_D["k_max"],
        k_rule=_D["k_rule"],
        n_init=_D["n_init"],
        missing=_D["missing"],
        random_state=_D["seed"],
    ):
        self.n_clusters = n_clusters
        self.k_min = k_min
        self.k_max = k_max
        self.k_rule = k_rule
        self.n_init = n_init
        self.missing = missing
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _check(self, X, reset):
        return validate_data(
            self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan", order="F"
        )

    def fit(self, X, y=None):
        X = self._check(X, reset=True)
        if self.n_clusters == "auto":
            k, k_min, k_max = "auto", self.k_min, self.k_max
        elif isinstance(self.n_clusters, numbers.Integral) and not isinstance(self.n_clusters, bool):
            k = k_min = k_max = int(self.n_clusters)
        else:
            raise ValueError(f'n_clusters must be an int >= 2 or "auto", not {self.n_clusters!r}')
        # One sample cannot be segmented whatever n_clusters says (scikit-learn's checks
        # expect this message then); otherwise a bad n_clusters is named first.
        if X.shape[0] < 2:
            raise ValueError(f"n_samples={X.shape[0]} is too few: cardseg needs at least 2 customers")
        if k != "auto" and not 2 <= k <= 1000:
            raise cardseg.UsageError(f'n_clusters={k}: give a number of segments from 2 to 1000, or "auto"')
        if k != "auto" and X.shape[0] <= k:
            raise ValueError(
                f"n_samples={X.shape[0]} is too few for n_clusters={k}: cardseg needs more "
                "customers than segments (silhouettes are computed)"
            )
        given = getattr(self, "feature_names_in_", None)
        names = [str(c) for c in given] if given is not None else [f"x{j}" for j in range(X.shape[1])]
        seg = cardseg.run(
            _table(X, names),
            features=names,
            profile_features=[],
            no_id=True,
            k=k,
            k_min=k_min,
            k_max=k_max,
            k_rule=self.k_rule,
            n_init=self.n_init,
            seed=_seed(self.random_state),
            missing=self.missing,
            dashboard=False,
            source_name="X",
        )
        model = seg.model
        self.model_ = model
        seg_ids = seg.labels["segment"]
        self.labels_ = np.where(seg_ids.isna(), -1, seg_ids.fillna(0).astype(np.int64) - 1).astype(np.int32)
        self.cluster_centers_ = np.asarray(model.centroids, dtype=np.float64)
        self.scaled_centers_ = np.asarray(model.centroids_scaled, dtype=np.float64)
        self.inertia_ = float(model.inertia)
        self.n_clusters_ = int(model.k)
        self.segment_names_ = list(model.segment_names)
        self.k_selection_ = seg.k_selection
        return self

    @property
    def _n_features_out(self):
        """Columns of ``transform``: one distance per segment."""
        return self.n_clusters_

    def predict(self, X):
        """Segment index (0-based) of each row, as ``cardseg predict`` scores it; -1 for rows
        with a missing feature when ``missing="drop"``."""
        check_is_fitted(self)
        X = self._check(X, reset=False)
        _, idx = self.model_._score_arrow(_table(X, self.model_.features), "X")
        return idx.astype(np.int32)

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_

    def transform(self, X):
        """Euclidean distance of each row to each centroid (segment order), in the scaled
        space, as the Rust library computes it when it assigns segments; NaN rows where a
        feature is missing and ``missing="drop"``."""
        check_is_fitted(self)
        X = self._check(X, reset=False)
        raw = self.model_._m.distances(_table(X, self.model_.features).__arrow_c_stream__(), "X")
        return np.frombuffer(raw, dtype="<f8").reshape(X.shape[0], self.n_clusters_).copy()

    def score(self, X, y=None):
        """Minus the inertia of X against the fitted centroids (scikit-learn's KMeans
        convention: the sum of squared distances to the nearest centroid in the scaled
        space, negated so that higher is better). It compares fits with the same k; to
        choose k use :func:`k_search` or ``n_clusters="auto"`` (the inertia always falls as
        k grows)."""
        d = self.transform(X)
        return -float(np.nansum(np.min(d, axis=1) ** 2))


def k_search(X, *, k_min=_D["k_min"], k_max=_D["k_max"], k_rule=_D["k_rule"], n_init=_D["n_init"],
             missing=_D["missing"], random_state=_D["seed"]):
    """Chooses k as ``cardseg run --k auto`` does (the knee of the inertia curve, or the
    best silhouette with ``k_rule="silhouette"``, between ``k_min`` and ``k_max``) and
    returns the :class:`CardsegKMeans` fitted with it: ``n_clusters_`` is the chosen k,
    ``k_selection_`` the sweep (inertia and silhouette per k). This is what GridSearchCV
    over ``n_clusters`` cannot do: a knee is a property of the whole curve, not a score of
    one k."""
    return CardsegKMeans(
        n_clusters="auto", k_min=k_min, k_max=k_max, k_rule=k_rule, n_init=n_init,
        missing=missing, random_state=random_state,
    ).fit(X)
