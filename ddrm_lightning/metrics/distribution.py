"""Set-level distances between restored images and originals: FID and KID.

Both are torchmetrics' ``FrechetInceptionDistance`` / ``KernelInceptionDistance``. Features
are extracted once per batch outside the metrics (see ``features.py``) and handed to them
through a pass-through ``feature=`` module, so FID, KID and GIQA share one forward pass and
the metrics hold no network weights.

* FID: ‖μ_r − μ_o‖² + Tr(Σ_r + Σ_o − 2 (Σ_r Σ_o)^½) over the two feature sets (float64
  statistics). Needs at least 2 images per set; with fewer images than feature dimensions
  the covariances are singular and FID is strongly biased upwards (compare only at equal n).
* KID: unbiased MMD² with the cubic polynomial kernel k(a, b) = (aᵀb / D + 1)³, averaged
  over ``subsets`` random subsets of ``min(1000, n)`` images of each set (n the smaller
  set), with its standard deviation over the subsets. Needs n >= 2. The subsets are drawn
  from a seeded generator, so KID is reproducible. When both sets have the same n <= 1000
  every subset is the whole set: KID is evaluated once and its std is 0.

Distributed runs: torchmetrics sums FID's statistics and gathers KID's features over all
processes in ``compute``; every process must call ``compute`` (they all get the same value).
Lightning's predict loop gives each process a disjoint share of the samples (its sampler
does not pad with repeats), so no image is counted twice.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from .availability import Unavailable, short_error

KID_MAX_SUBSET = 1000


class _Passthrough(nn.Module):
    """The torchmetrics ``feature=`` module for features computed beforehand."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: Tensor) -> Tensor:
        return features


class _PairCount(Metric):
    """How many images each set holds, summed over processes."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("real", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("fake", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, n_real: int, n_fake: int) -> None:
        self.real += int(n_real)
        self.fake += int(n_fake)

    def compute(self) -> Tensor:
        return torch.stack([self.real, self.fake])


class DistributionMetrics(nn.Module):
    """FID and/or KID of restored features against original features, accumulated batch by batch.

    Args:
        num_features: the feature dimension D.
        fid, kid: which distances to accumulate.
        kid_subsets: number of random subsets KID averages over.
        seed: seed of the generator that draws KID's subsets.
    """

    def __init__(
        self, num_features: int, *, fid: bool = True, kid: bool = True, kid_subsets: int = 100, seed: int = 0
    ) -> None:
        super().__init__()
        if int(num_features) < 1:
            raise ValueError(f"num_features must be at least 1, got {num_features}")
        if int(kid_subsets) < 1:
            raise ValueError(f"kid_subsets must be at least 1, got {kid_subsets}")
        self.seed = int(seed)
        self.count = _PairCount()
        self.fid = FrechetInceptionDistance(feature=_Passthrough(num_features)) if fid else None
        if kid:
            with warnings.catch_warnings():
                # Keeping every feature is the point here; the memory warning is noise.
                warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
                self.kid = KernelInceptionDistance(
                    feature=_Passthrough(num_features), subsets=int(kid_subsets), subset_size=KID_MAX_SUBSET
                )
        else:
            self.kid = None

    def update(self, restored_features: Tensor, original_features: Tensor) -> None:
        """Add a batch: features (B, D) of restored images and of their originals."""
        if restored_features.ndim != 2 or original_features.ndim != 2:
            raise ValueError(
                f"features must be (B, D), got {tuple(restored_features.shape)} and {tuple(original_features.shape)}"
            )
        self.count.update(original_features.shape[0], restored_features.shape[0])
        for metric in (self.fid, self.kid):
            if metric is not None:
                metric.update(original_features, real=True)
                metric.update(restored_features, real=False)

    def compute(self) -> dict[str, float | Unavailable]:
        """``fid``, ``kid`` and ``kid_std`` (those enabled); ``Unavailable`` when there are too few images."""
        with warnings.catch_warnings():
            # An empty sweep (or an idle process) is reported as too few images below.
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            n_real, n_fake = (int(v) for v in self.count.compute())
        n = min(n_real, n_fake)
        out: dict[str, float | Unavailable] = {}
        too_few = Unavailable(f"needs at least 2 restored and 2 original images, got {n_fake} and {n_real}")
        if self.fid is not None:
            out["fid"] = too_few if n < 2 else _guarded(lambda: float(self.fid.compute()))
        if self.kid is not None:
            if n < 2:
                out["kid"] = out["kid_std"] = too_few
            else:
                kid = _guarded(lambda: self._kid(n_real, n_fake))
                out["kid"], out["kid_std"] = (kid, kid) if isinstance(kid, Unavailable) else kid
        return out

    def _kid(self, n_real: int, n_fake: int) -> tuple[float, float]:
        self.kid.subset_size = min(KID_MAX_SUBSET, n_real, n_fake)
        subsets = self.kid.subsets
        if n_real == n_fake == self.kid.subset_size:
            # Every subset would be the whole of both sets: one evaluation gives them all.
            self.kid.subsets = 1
        try:
            # torchmetrics draws the subsets with torch.randperm from the global CPU generator:
            # run it on a forked, seeded copy so KID is reproducible and the caller's stream is untouched.
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(self.seed)
                mean, std = self.kid.compute()
        finally:
            self.kid.subsets = subsets
        return float(mean), float(std)

    def reset(self) -> None:
        for metric in (self.count, self.fid, self.kid):
            if metric is not None:
                metric.reset()


def _guarded(compute):
    try:
        return compute()
    except Exception as error:  # a numerical failure is reported, not raised, at the end of a sweep
        return Unavailable(f"could not compute: {short_error(error)}")
