"""Settings of the sweep-level metrics (``--metrics.*`` on the command line)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Literal


@dataclass
class MetricsOptions:
    """Perceptual and distribution metrics of a sweep.

    Args:
        lpips: LPIPS per image with AlexNet and VGG16 backbones.
        fid: FID of the restorations against the originals.
        kid: KID of the restorations against the originals (subset size adapts to small sets).
        giqa: GMM- and KNN-GIQA per image (needs ``giqa_reference``).
        download: fetch the weight files missing from the torch hub cache on first use (false: only
            use what is there; ``HF_HUB_OFFLINE=1`` or ``DDRM_LIGHTNING_OFFLINE=1`` also stop it).
        inception_weights: Inception-v3 FID weights file or folder (default: the torch hub cache).
        fid_convention: how images are resized for the Inception features of FID, KID and GIQA, as the
            package whose published numbers you compare with: ``torch-fidelity`` (the DDRM paper's tool),
            ``clean-fid`` or ``torchmetrics`` (docs/metrics.md).
        lpips_weights: folder with torchvision's AlexNet / VGG16 ImageNet weights (default: the torch hub cache).
        giqa_reference: clean images of the domain GIQA is fitted on: a folder, ``bundled:training``
            (the embedded prior's training photos) or other ``bundled:<names>``, ``hf:<dataset>[@<split>]``,
            or a features file (.pt/.npy).
        giqa_reference_size: centre-crop the reference images to this size first (e.g. the sweep's
            ``data.image_size``); None keeps them as stored.
        giqa_reference_limit: use only the first this many reference images; None uses all.
        giqa_components: Gaussian mixture components of GMM-GIQA.
        giqa_k: neighbours of KNN-GIQA.
        giqa_pca: fraction of variance PCA keeps before GIQA (e.g. 0.95), or None.
    """

    lpips: bool = True
    fid: bool = True
    kid: bool = True
    giqa: bool = True
    download: bool = True
    inception_weights: str | None = None
    fid_convention: Literal["torch-fidelity", "clean-fid", "torchmetrics"] = "torch-fidelity"
    lpips_weights: str | None = None
    giqa_reference: str | None = None
    giqa_reference_size: int | None = None
    giqa_reference_limit: int | None = None
    giqa_components: int = 5
    giqa_k: int = 1
    giqa_pca: float | None = None

    def weight_keys(self) -> list[str]:
        """The weight files these options need from the torch hub cache (none for a metric given a local path)."""
        keys = []
        if self.lpips and self.lpips_weights is None:
            keys += ["alexnet", "vgg16"]
        needs_features = self.fid or self.kid or (self.giqa and self.giqa_reference is not None)
        if needs_features and self.inception_weights is None and importlib.util.find_spec("torch_fidelity") is not None:
            keys.append("inception")
        return keys

    def fetch(self, progress: bool = True) -> dict:
        """Fetch the missing weight files these options need into the torch hub cache (when ``download``);
        returns key -> path or ``Unavailable``. Meant for one process per node, before the others build."""
        from .fetching import obtain_weights

        return obtain_weights(self.weight_keys(), download=self.download, progress=progress)

    def build(self, methods: tuple[str, ...], seed: int = 0):
        """The ``SweepMetrics`` these options describe."""
        from .sweep import SweepMetrics

        return SweepMetrics(
            lpips=self.lpips, fid=self.fid, kid=self.kid, giqa=self.giqa, download=self.download,
            inception_weights=self.inception_weights, fid_convention=self.fid_convention,
            lpips_weights=self.lpips_weights, giqa_reference=self.giqa_reference,
            giqa_reference_size=self.giqa_reference_size,
            giqa_reference_limit=self.giqa_reference_limit, giqa_components=self.giqa_components, giqa_k=self.giqa_k,
            giqa_pca=self.giqa_pca, seed=seed, methods=methods,
        )
