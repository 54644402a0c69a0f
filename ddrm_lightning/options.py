"""Settings of the sweep-level metrics (``--metrics.*`` on the command line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MetricsOptions:
    """Perceptual and distribution metrics of a sweep.

    Args:
        lpips: LPIPS per image with AlexNet and VGG16 backbones.
        fid: FID of the restorations against the originals.
        kid: KID of the restorations against the originals (subset size adapts to small sets).
        giqa: GMM- and KNN-GIQA per image (needs ``giqa_reference``).
        inception_weights: Inception-v3 FID weights file or folder (default: the torch hub cache).
        lpips_weights: folder with torchvision's AlexNet / VGG16 ImageNet weights (default: the torch hub cache).
        giqa_reference: folder of clean images of the domain (or a features file) GIQA is fitted on.
        giqa_components: Gaussian mixture components of GMM-GIQA.
        giqa_k: neighbours of KNN-GIQA.
        giqa_pca: fraction of variance PCA keeps before GIQA (e.g. 0.95), or None.
    """

    lpips: bool = True
    fid: bool = True
    kid: bool = True
    giqa: bool = True
    inception_weights: str | None = None
    lpips_weights: str | None = None
    giqa_reference: str | None = None
    giqa_components: int = 5
    giqa_k: int = 1
    giqa_pca: float | None = None

    def build(self, methods: tuple[str, ...], seed: int = 0):
        """The ``SweepMetrics`` these options describe."""
        from .metrics import SweepMetrics

        return SweepMetrics(
            lpips=self.lpips, fid=self.fid, kid=self.kid, giqa=self.giqa,
            inception_weights=self.inception_weights, lpips_weights=self.lpips_weights,
            giqa_reference=self.giqa_reference, giqa_components=self.giqa_components, giqa_k=self.giqa_k,
            giqa_pca=self.giqa_pca, seed=seed, methods=methods,
        )
