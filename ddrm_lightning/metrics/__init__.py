"""Image-restoration metrics: PSNR/SSIM/consistency, LPIPS, FID/KID, GIQA.

Pure torch + torchmetrics + scikit-learn; nothing here imports the LightningModule or the CLI.
Metrics that need pretrained weights read them from local files only and report
``Unavailable(reason)`` when the files are missing. See docs/metrics.md.
"""

from .availability import Unavailable, is_available
from .distribution import DistributionMetrics
from .features import CustomFeatures, InceptionPool3, extract_features, feature_network, load_inception
from .giqa import GIQA, relative_score, score_restoration
from .image import consistency, psnr, ssim, to_unit_range
from .perceptual import LPIPS, load_lpips, lpips_backbone_filename
from .reference import reference_features
from .sweep import SweepMetrics

__all__ = [
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
    "to_unit_range",
]
