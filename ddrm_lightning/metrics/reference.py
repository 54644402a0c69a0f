"""Reference sets for GIQA: saved features, or a folder of clean images.

The reference should be clean images of the restored images' domain that are *not*
the evaluated originals (e.g. the training split); features of the originals themselves
would make every original its own nearest neighbour.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .features import extract_features

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FEATURE_SUFFIXES = (".pt", ".pth", ".npy")


def _load_image(path: Path) -> Tensor:
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def _folder_features(folder: Path, extractor: Callable[[Tensor], Tensor], batch_size: int, device) -> Tensor:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the GIQA reference folder {folder}")
    features, batch = [], []

    def flush() -> None:
        if batch:
            features.append(extract_features(extractor, torch.stack(batch).to(device), batch_size).cpu())
            batch.clear()

    for path in files:
        image = _load_image(path)
        # Images of different sizes cannot share a batch.
        if batch and (image.shape != batch[0].shape or len(batch) == batch_size):
            flush()
        batch.append(image)
    flush()
    return torch.cat(features)


def reference_features(
    source: Tensor | np.ndarray | str | Path,
    extractor: Callable[[Tensor], Tensor] | None = None,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
) -> Tensor:
    """Reference features (N, D) from features in memory, a ``.pt``/``.pth``/``.npy`` file, or an image folder.

    A folder's images (searched recursively, sorted by path) go through ``extractor`` on ``device``.
    """
    if isinstance(source, Tensor):
        return source.detach().float().cpu()
    if isinstance(source, np.ndarray):
        return torch.from_numpy(np.asarray(source, dtype=np.float32))
    path = Path(source).expanduser()
    if path.is_dir():
        if extractor is None:
            raise ValueError("a GIQA reference folder of images needs a feature extractor")
        return _folder_features(path, extractor, batch_size, device)
    if path.is_file() and path.suffix.lower() in FEATURE_SUFFIXES:
        loaded = np.load(path) if path.suffix.lower() == ".npy" else torch.load(path, map_location="cpu", weights_only=True)
        return torch.as_tensor(loaded).float()
    raise ValueError(
        f"GIQA reference {path} is neither an image folder nor a features file ({', '.join(FEATURE_SUFFIXES)})"
    )
