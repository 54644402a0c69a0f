"""Image-restoration metrics: PSNR/SSIM/consistency, LPIPS, FID/KID, GIQA.

Pure torch + torchmetrics + scikit-learn; nothing here imports the LightningModule or the CLI.
Metrics that need pretrained weights read them from a given path or the torch hub cache,
fetching them into the cache on first use (``fetching.py``), and report
``Unavailable(reason)`` when they cannot be had. See docs/metrics.md.
"""

from .availability import Unavailable, is_available
from .conventions import DEFAULT_FID_CONVENTION, FID_CONVENTIONS
from .distribution import DistributionMetrics
from .features import (
    CustomFeatures,
    InceptionPool3,
    extract_features,
    feature_network,
    load_inception,
)
from .fetching import forget_failures, obtain_weight, obtain_weights
from .giqa import GIQA, inverse_mean_distance, relative_score, score_restoration
from .image import consistency, psnr, ssim, to_unit
from .perceptual import LPIPS, load_lpips, lpips_backbone_filename
from .reference import reference_features
from .sweep import SweepMetrics
from .weights import METRIC_GROUPS, WEIGHT_FILES, WeightFile, hub_checkpoint_dir

__all__ = [
    "DEFAULT_FID_CONVENTION",
    "FID_CONVENTIONS",
    "METRIC_GROUPS",
    "WEIGHT_FILES",
    "WeightFile",
    "forget_failures",
    "hub_checkpoint_dir",
    "inverse_mean_distance",
    "obtain_weight",
    "obtain_weights",
    "CustomFeatures",
    "DistributionMetrics",
    "GIQA",
    "InceptionPool3",
    "LPIPS",
    "SweepMetrics",
    "Unavailable",
    "consistency",
    "extract_features",
    "feature_network",
    "is_available",
    "load_inception",
    "load_lpips",
    "lpips_backbone_filename",
    "psnr",
    "reference_features",
    "relative_score",
    "score_restoration",
    "ssim",
    "to_unit",
]
