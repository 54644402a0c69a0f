"""GIQA: generated image quality assessment (Gu et al., ECCV 2020).

An image is scored by how typical its features are of a reference set of real images
(higher = better). Two scores, as the paper defines them:

* GMM-GIQA: a Gaussian mixture of K components with full covariances is fitted to the
  reference features; the score is the log-likelihood log p(f) of an image's features f.
* KNN-GIQA: the score is the inverse of the mean distance from f to its K nearest reference
  features, K / Σ_{j=1..K} d_j (d_j the L1 distance, as in the paper's code; K = 1 by default).

Features are Inception pool3 (2048-d, input resized to 299) as in the paper, or any extractor
(``features.py``). An optional PCA keeping a fraction of the variance (the paper's code uses
95 %) is fitted on the reference and applied to every feature before both scores.

Small reference sets (N images, D dimensions after the optional PCA): a full covariance needs
more samples than dimensions, and a 2048-d full-covariance mixture fitted on ~50 images is
degenerate (its covariances are singular and its log-likelihoods meaningless). So

1. when N < D + 1 the mixture works on the leading N − 1 principal components of the reference;
2. the number of components is min(K, max(1, N // (d + 1))), d the mixture's dimension, so each
   component has at least d + 1 samples on average;
3. every covariance gets a ridge of ``reg_covar`` times the mean per-dimension variance of the
   reference (scale-free, so features of any magnitude are regularised alike).

Each adjustment is said in ``notes_`` (one line each); the effective values are
``n_components_``, ``gmm_dims_`` and ``k_`` (K capped at N). A distance is floored at 1e-12, so
an image equal to a reference image scores 1e12 (K = 1), not infinity.

Normalisation against the originals (``relative_score``): a restored (or degraded) image's
score s relative to its original's score s₀ is 100 · (1 + (s − s₀)/|s₀|) %. Originals score
100 %; for positive scores (KNN) this is 100 · s/s₀; for log-likelihoods, which may be
negative, it still rises with s. No min–max normalisation over the evaluated set: that would
make an image's score depend on which other images happen to be scored with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from torch import Tensor
from torch.nn import functional as F

from .features import extract_features

_MIN_DISTANCE = 1e-12
_QUERY_CHUNK = 1024  # rows of the distance matrix computed at a time (leave_one_out_knn)


def _as_matrix(features: Tensor | np.ndarray, what: str) -> np.ndarray:
    array = features.detach().cpu().double().numpy() if isinstance(features, Tensor) else np.asarray(features, float)
    if array.ndim != 2 or array.shape[0] < 1:
        raise ValueError(f"{what} must be a non-empty (N, D) matrix, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return array


class GIQA:
    """GMM- and KNN-GIQA scorers fitted on reference features.

    Args:
        n_components: mixture components requested (fewer on tiny sets, see the module docstring).
        k: neighbours summed by KNN-GIQA.
        pca_variance: fraction of the reference variance a PCA keeps, in (0, 1]; None = no PCA.
        reg_covar: ridge added to the mixture's covariance diagonals, as a fraction of the mean
            per-dimension variance of the reference features the mixture is fitted on.
        max_iter: EM iterations of the mixture fit.
        random_state: seed of the mixture's k-means initialisation.
    """

    def __init__(
        self,
        *,
        n_components: int = 5,
        k: int = 1,
        pca_variance: float | None = None,
        reg_covar: float = 1e-4,
        max_iter: int = 100,
        random_state: int = 0,
    ) -> None:
        if int(n_components) < 1:
            raise ValueError(f"n_components must be at least 1, got {n_components}")
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if pca_variance is not None and not 0.0 < float(pca_variance) <= 1.0:
            raise ValueError(f"pca_variance must be in (0, 1] or None, got {pca_variance}")
        if not float(reg_covar) >= 0.0:
            raise ValueError(f"reg_covar must be non-negative, got {reg_covar}")
        self.n_components = int(n_components)
        self.k = int(k)
        self.pca_variance = None if pca_variance is None else float(pca_variance)
        self.reg_covar = float(reg_covar)
        self.max_iter = int(max_iter)
        self.random_state = int(random_state)
        self._fitted = False

    # ----------------------------------------------------------------- fitting
    def fit(self, reference: Tensor | np.ndarray) -> GIQA:
        """Fit both scorers on reference features (N, D), N >= 2."""
        x = _as_matrix(reference, "reference features")
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"GIQA needs at least 2 reference images, got {n}")
        self.notes_: list[str] = []
        self._pca = None
        if self.pca_variance is not None and self.pca_variance < 1.0:
            self._pca = PCA(n_components=self.pca_variance, svd_solver="full").fit(x)
            x = self._pca.transform(x)
        self._gmm_pca = None
        z = x
        if n < x.shape[1] + 1:
            self._gmm_pca = PCA(n_components=n - 1, svd_solver="full").fit(x)
            z = self._gmm_pca.transform(x)
            self.notes_.append(
                f"GIQA: {n} reference images are too few for a full covariance in {x.shape[1]} dimensions "
                f"(needs at least {x.shape[1] + 1}); the mixture is fitted on their {n - 1} leading principal components"
            )
        self.gmm_dims_ = z.shape[1]
        self.n_components_ = min(self.n_components, max(1, n // (self.gmm_dims_ + 1)))
        if self.n_components_ < self.n_components:
            self.notes_.append(
                f"GIQA: {self.n_components} mixture components in {self.gmm_dims_} dimensions need at least "
                f"{self.n_components * (self.gmm_dims_ + 1)} reference images, got {n}; fitted {self.n_components_}"
            )
        # The ridge follows the features' scale; sklearn's reg_covar is absolute.
        scale = float(np.mean(np.var(z, axis=0)))
        self.reg_covar_ = self.reg_covar * (scale if scale > 0 else 1.0)
        self._gmm = GaussianMixture(
            n_components=self.n_components_,
            covariance_type="full",
            reg_covar=max(self.reg_covar_, 1e-12),
            max_iter=self.max_iter,
            random_state=self.random_state,
        ).fit(z)
        self.k_ = min(self.k, n)
        if self.k_ < self.k:
            self.notes_.append(f"GIQA: K = {self.k} neighbours but only {n} reference images; K = {n} used")
        self._knn = NearestNeighbors(n_neighbors=self.k_, metric="manhattan").fit(x)
        self.n_reference_ = n
        self._fitted = True
        return self

    def _projected(self, features: Tensor | np.ndarray) -> np.ndarray:
        if not self._fitted:
            raise ValueError("GIQA is not fitted: call fit(reference_features) first")
        x = _as_matrix(features, "features")
        expected = self._pca.n_features_in_ if self._pca is not None else self._knn.n_features_in_
        if x.shape[1] != expected:
            raise ValueError(f"features have {x.shape[1]} dimensions, the reference had {expected}")
        return self._pca.transform(x) if self._pca is not None else x

    # ----------------------------------------------------------------- scoring
    def gmm_score(self, features: Tensor | np.ndarray) -> np.ndarray:
        """GMM-GIQA per image: log-likelihood of its features under the reference mixture."""
        x = self._projected(features)
        z = self._gmm_pca.transform(x) if self._gmm_pca is not None else x
        return self._gmm.score_samples(z)

    def knn_score(self, features: Tensor | np.ndarray) -> np.ndarray:
        """KNN-GIQA per image: 1 / (mean L1 distance to its K nearest reference features)."""
        distances, _ = self._knn.kneighbors(self._projected(features))
        return inverse_mean_distance(distances)

    def score(self, features: Tensor | np.ndarray) -> dict[str, np.ndarray]:
        """Both scores per image, as ``giqa_gmm`` and ``giqa_knn``."""
        return {"giqa_gmm": self.gmm_score(features), "giqa_knn": self.knn_score(features)}


def leave_one_out_knn(queries: np.ndarray, query_ids: Sequence[str], reference: np.ndarray, reference_ids: Sequence[str],
                      k: int = 1) -> np.ndarray:
    """KNN-GIQA, 1 / (mean L1 distance to the K nearest), of each query against the reference rows of *other* ids.

    K is capped at the number of reference rows a query may use.
    """
    if len(query_ids) != len(queries) or len(reference_ids) != len(reference):
        raise ValueError("need one id per query row and per reference row")
    position = {ref_id: j for j, ref_id in enumerate(reference_ids)}
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float64))
    scores = np.empty(len(queries))
    for start in range(0, len(queries), _QUERY_CHUNK):
        chunk = torch.from_numpy(np.asarray(queries[start : start + _QUERY_CHUNK], dtype=np.float64))
        distances = torch.cdist(chunk, ref, p=1.0)
        for row, query_id in enumerate(query_ids[start : start + _QUERY_CHUNK]):
            if query_id in position:
                distances[row, position[query_id]] = math.inf
        nearest = distances.topk(min(int(k), len(reference_ids)), dim=1, largest=False).values
        # An excluded entry is infinitely far: it is among the K only when K exceeds what the query may use.
        usable = torch.isfinite(nearest)
        mean = torch.where(usable, nearest, 0.0).sum(dim=1) / usable.sum(dim=1).clamp_min(1)
        scores[start : start + len(chunk)] = (1.0 / mean.clamp_min(_MIN_DISTANCE)).numpy()
    return scores


def giqa_scores(features: np.ndarray, reference: np.ndarray, *, n_components: int = 5, k: int = 1,
                pca_variance: float | None = None, seed: int = 0, query_ids: Sequence[str] | None = None,
                reference_ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(GMM-GIQA, KNN-GIQA, notes of how the fit adapted) of each row of ``features`` against ``reference``.

    The optional PCA is fitted on the reference and applied before both scores (as ``GIQA`` does); with
    ``query_ids``/``reference_ids`` the KNN score of a query leaves out the reference rows of its own id
    (``leave_one_out_knn``), in the same projected space as the mixture.
    """
    pca = PCA(n_components=pca_variance, svd_solver="full").fit(reference) \
        if pca_variance is not None and pca_variance < 1 else None
    project = pca.transform if pca is not None else (lambda x: x)
    giqa = GIQA(n_components=n_components, k=k, random_state=seed).fit(project(reference))
    projected = project(features)
    gmm = giqa.gmm_score(projected)
    if query_ids is not None:
        knn = leave_one_out_knn(projected, query_ids, project(reference), reference_ids, k)
    else:
        knn = giqa.knn_score(projected)
    return gmm, knn, list(giqa.notes_)


def inverse_mean_distance(distances: np.ndarray) -> np.ndarray:
    """KNN-GIQA from the (Q, K) distances to each query's K nearest references: K / Σ_j d_j."""
    d = np.asarray(distances, dtype=float)
    return 1.0 / np.maximum(d.mean(axis=1), _MIN_DISTANCE)


def relative_score(score: np.ndarray, original_score: np.ndarray) -> np.ndarray:
    """Each score relative to its original's, in %: 100 · (1 + (s − s₀)/|s₀|); originals are 100.

    NaN where the original's score is 0.
    """
    s = np.asarray(score, dtype=float)
    s0 = np.asarray(original_score, dtype=float)
    if s.shape != s0.shape:
        raise ValueError(f"score and original_score must have one shape, got {s.shape} and {s0.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = 100.0 * (1.0 + (s - s0) / np.abs(s0))
    return np.where(s0 == 0, np.nan, rel)


def _match_original(images01: Tensor, like: Tensor) -> Tensor:
    """Degraded images shown at the original's geometry: grayscale to RGB, resized if smaller/larger."""
    x = images01.float()
    if x.shape[1] == 1 and like.shape[1] == 3:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != like.shape[-2:]:
        x = F.interpolate(x, size=tuple(like.shape[-2:]), mode="bilinear", align_corners=False, antialias=True)
    return x.clamp(0.0, 1.0)


def score_restoration(
    giqa: GIQA,
    extractor: Callable[[Tensor], Tensor],
    original01: Tensor,
    restored01: Tensor,
    degraded01: Tensor | None = None,
    *,
    batch_size: int = 32,
) -> dict[str, dict[str, np.ndarray]]:
    """GIQA of originals, restorations (and degraded inputs), raw and relative to the originals.

    Returns ``{"original": {...}, "restored": {...}, "degraded": {...}}``, each with per-image
    ``giqa_gmm``, ``giqa_knn``, ``giqa_gmm_rel`` and ``giqa_knn_rel`` (% of the original's score).
    Degraded images of another size or channel count are first brought to the original's.
    """
    if restored01.shape != original01.shape:
        raise ValueError(
            f"restored and original must have one shape, got {tuple(restored01.shape)} and {tuple(original01.shape)}"
        )
    sets = {"original": original01, "restored": restored01}
    if degraded01 is not None:
        if degraded01.ndim != 4 or degraded01.shape[0] != original01.shape[0]:
            raise ValueError(
                f"degraded must be (N, C, H, W) with N = {original01.shape[0]}, got {tuple(degraded01.shape)}"
            )
        sets["degraded"] = _match_original(degraded01, original01)
    scores = {name: giqa.score(extract_features(extractor, images, batch_size)) for name, images in sets.items()}
    for name, per_set in scores.items():
        for metric in ("giqa_gmm", "giqa_knn"):
            per_set[f"{metric}_rel"] = relative_score(per_set[metric], scores["original"][metric])
    return scores


__all__ = ["GIQA", "inverse_mean_distance", "relative_score", "score_restoration"]
