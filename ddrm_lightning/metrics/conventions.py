"""Image conventions of the Inception features behind FID, KID and GIQA.

The FID network is the same everywhere (the TensorFlow Inception-v3 of 2015), but the packages
that publish FID/KID tables feed it differently, which moves FID by percents to several times on
the same images (docs/metrics.md). Every convention starts from the 8-bit image (what a saved PNG holds);
they differ in how it reaches 299×299:

* ``torch-fidelity`` (default; the package the DDRM paper's code lists, so the tool behind its
  KID): TensorFlow-1-style bilinear resize without antialiasing, torch-fidelity's own
  ``FeatureExtractorInceptionV3``.
* ``clean-fid`` (Parmar et al. 2022, mode ``clean``): PIL bicubic resize (antialiased) of each
  channel in float, not re-quantised, then the same network.
* ``torchmetrics``: bilinear resize with antialiasing (torchmetrics' FID/KID default).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

FID_CONVENTIONS = ("torch-fidelity", "clean-fid", "torchmetrics")
DEFAULT_FID_CONVENTION = "torch-fidelity"

# One line each, for notes in summary.csv and the report.
RESIZES = {
    "torch-fidelity": "8-bit images, TensorFlow-1 bilinear resize to 299 (no antialiasing)",
    "clean-fid": "8-bit images, PIL bicubic resize to 299 in float (antialiased)",
    "torchmetrics": "8-bit images, antialiased bilinear resize to 299",
}


def check_convention(convention: str) -> str:
    if convention not in FID_CONVENTIONS:
        raise ValueError(f"unknown fid_convention '{convention}'; allowed: {', '.join(FID_CONVENTIONS)}")
    return convention


def convention_note(convention: str) -> str:
    """What a summary row of an Inception-based number says about how it was computed."""
    return f"convention: {check_convention(convention)} ({RESIZES[convention]})"


def resize_like_clean_fid(images_uint8: Tensor, size: int = 299) -> Tensor:
    """(B, 3, H, W) bytes -> (B, 3, size, size) float32 in [0, 255], as clean-fid's ``clean`` mode resizes.

    clean-fid resizes each channel as a 32-bit float PIL image with bicubic filtering and clips to
    [0, 255] without rounding (``cleanfid.resize.make_resizer("PIL", False, "bicubic", ...)``).
    PIL does it here directly, so clean-fid need not be installed; the tests check the two agree.
    """
    arrays = images_uint8.detach().cpu().numpy().astype(np.float32)
    out = np.empty((*arrays.shape[:2], size, size), dtype=np.float32)
    for index in np.ndindex(*arrays.shape[:2]):
        channel = Image.fromarray(arrays[index]).resize((size, size), resample=Image.BICUBIC)
        out[index] = np.asarray(channel)
    return torch.from_numpy(out.clip(0.0, 255.0)).to(images_uint8.device)
