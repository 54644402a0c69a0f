"""Reference sets for GIQA: saved features, a folder of clean images, or a dataset.

The reference should be clean images of the restored images' domain that are *not*
the evaluated originals (e.g. the training set of the prior); features of the originals
themselves would make every original its own nearest neighbour.

A reference source is one of

* features in memory (a 2-D tensor or array, (N, D)) or a ``.pt``/``.pth``/``.npy`` file of them;
* images in memory: a 4-D tensor (N, C, H, W) in [0, 1];
* a folder of images (searched recursively, sorted by path);
* ``bundled:<name>[,<name>...]``: photographs bundled with scikit-image / scikit-learn;
  ``bundled:training`` is the embedded prior's training set;
* ``hf:<dataset>[@<split>]``: a Hugging Face dataset (hub name or ``save_to_disk`` folder; split
  ``train`` by default), its first image column;
* any other iterable (a torch ``Dataset``, a list) of PIL images, (C, H, W) tensors in [0, 1],
  ``ImageRecord``s or dicts with an ``image`` entry.

Images can be brought to the sweep's geometry first (``image_size``: the ``center_crop`` of the
data pipeline) and capped to the first ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .features import extract_features

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FEATURE_SUFFIXES = (".pt", ".pth", ".npy")
BUNDLED_PREFIX = "bundled:"
HF_PREFIX = "hf:"


def _to_tensor(image: Image.Image) -> Tensor:
    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def _to_pil(image: Tensor) -> Image.Image:
    x = image.detach().float().cpu().clamp(0, 1)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return Image.fromarray((x.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8))


def _item_image(item) -> Image.Image | Tensor:
    if isinstance(item, dict):
        item = item.get("image")
    elif hasattr(item, "image") and hasattr(item, "error"):  # an ImageRecord
        if item.error:
            raise ValueError(f"GIQA reference image {item.id}: {item.error}")
        item = item.image
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, Tensor) and item.ndim == 3 and item.shape[0] in (1, 3):
        return item
    raise ValueError(
        f"a GIQA reference dataset must yield PIL images, (C, H, W) tensors, ImageRecords or dicts with an "
        f"'image' entry, got {type(item).__name__}"
    )


def _prepared(item, image_size: int | None) -> Tensor:
    image = _item_image(item)
    if image_size is not None:
        from ..data.geometry import center_crop

        image = center_crop(image if isinstance(image, Image.Image) else _to_pil(image), image_size)
    if isinstance(image, Image.Image):
        return _to_tensor(image)
    return image.float().clamp(0, 1).expand(3, -1, -1) if image.shape[0] == 1 else image.float().clamp(0, 1)


def _features_of(items: Iterable, extractor, batch_size: int, device, image_size, limit, what: str) -> Tensor:
    features, batch = [], []

    def flush() -> None:
        if batch:
            features.append(extract_features(extractor, torch.stack(batch).to(device), batch_size).cpu())
            batch.clear()

    for count, item in enumerate(items):
        if limit is not None and count >= limit:
            break
        image = _prepared(item, image_size)
        # Images of different sizes cannot share a batch.
        if batch and (image.shape != batch[0].shape or len(batch) == batch_size):
            flush()
        batch.append(image)
    flush()
    if not features:
        raise ValueError(f"the GIQA reference {what} holds no images")
    return torch.cat(features)


def _folder_images(folder: Path) -> Iterator[Image.Image]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in the GIQA reference folder {folder}")
    for path in files:
        with Image.open(path) as image:
            yield image.convert("RGB")


def bundled_names(spec: str) -> list[str]:
    """The bundled photo names of a ``bundled:...`` reference (``training``: the embedded prior's)."""
    from ..data.bundled import TRAINING_PHOTOS, available

    names = [n.strip() for n in spec.removeprefix(BUNDLED_PREFIX).split(",") if n.strip()]
    expanded = [m for n in names for m in (TRAINING_PHOTOS if n == "training" else (n,))]
    unknown = [n for n in expanded if n not in available()]
    if not expanded or unknown:
        raise ValueError(
            f"GIQA reference {spec!r}: unknown bundled photo(s) {unknown or names}; allowed: training, "
            f"{', '.join(available())}"
        )
    return expanded


def _bundled_images(spec: str) -> Iterator[Image.Image]:
    from ..data.bundled import load_bundled

    for name in bundled_names(spec):
        yield from load_bundled(name)


def hf_parts(spec: str) -> tuple[str, str]:
    """(dataset, split) of an ``hf:<dataset>[@<split>]`` reference."""
    dataset, _, split = spec.removeprefix(HF_PREFIX).partition("@")
    if not dataset.strip():
        raise ValueError(f"GIQA reference {spec!r} names no dataset; write hf:<dataset>[@<split>]")
    return dataset.strip(), split.strip() or "train"


def _hf_images(spec: str, limit: int | None) -> Iterator[Image.Image]:
    import datasets

    from ..data.hf_source import load_hf

    name, split = hf_parts(spec)
    try:
        data = load_hf(name, split, streaming=False)
    except Exception as error:
        raise ValueError(f"GIQA reference {spec!r} could not be loaded: {' '.join(str(error).split())}") from None
    columns = [c for c, feature in data.features.items() if isinstance(feature, datasets.Image)]
    if not columns:
        raise ValueError(f"GIQA reference {spec!r} has no image column (columns: {', '.join(data.column_names)})")
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    for row in data.select_columns(columns[:1]):
        yield row[columns[0]]


def check_reference(source) -> None:
    """Refuse, with a one-line ``ValueError``, a reference that cannot be right (before any work)."""
    if isinstance(source, (str, Path)):
        text = str(source)
        if text.startswith(BUNDLED_PREFIX):
            bundled_names(text)
        elif text.startswith(HF_PREFIX):
            hf_parts(text)
        elif not Path(text).expanduser().exists():
            raise ValueError(
                f"GIQA reference {text} does not exist; give a folder of clean images, a features file, "
                f"bundled:<names> or hf:<dataset>[@<split>]"
            )


def reference_features(
    source,
    extractor: Callable[[Tensor], Tensor] | None = None,
    *,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    image_size: int | None = None,
    limit: int | None = None,
) -> Tensor:
    """Reference features (N, D) from any source of the module docstring.

    Images go through ``extractor`` on ``device``, ``batch_size`` at a time; ``image_size``
    centre-crops each of them to the sweep's size first, ``limit`` keeps the first images only.
    """
    if limit is not None and int(limit) < 1:
        raise ValueError(f"limit must be at least 1 or None, got {limit}")
    if image_size is not None and int(image_size) < 1:
        raise ValueError(f"image_size must be at least 1 or None, got {image_size}")
    if isinstance(source, np.ndarray) and source.ndim == 2:
        return torch.from_numpy(np.asarray(source, dtype=np.float32))
    if isinstance(source, Tensor) and source.ndim == 2:
        return source.detach().float().cpu()
    what = "images"
    if isinstance(source, Tensor) and source.ndim == 4:
        items: Iterable = source
        what = "tensor"
    elif isinstance(source, (str, Path)):
        text = str(source)
        path = Path(text).expanduser()
        if text.startswith(BUNDLED_PREFIX):
            items, what = _bundled_images(text), text
        elif text.startswith(HF_PREFIX):
            items, what = _hf_images(text, limit), text
        elif path.is_dir():
            items, what = _folder_images(path), f"folder {path}"
        elif path.is_file() and path.suffix.lower() in FEATURE_SUFFIXES:
            loaded = np.load(path) if path.suffix.lower() == ".npy" else torch.load(path, map_location="cpu",
                                                                                   weights_only=True)
            return torch.as_tensor(loaded).float()
        else:
            raise ValueError(
                f"GIQA reference {path} is neither an image folder nor a features file ({', '.join(FEATURE_SUFFIXES)})"
            )
    elif isinstance(source, Iterable) or hasattr(source, "__getitem__"):
        items = source if isinstance(source, Iterable) else (source[i] for i in range(len(source)))
        what = type(source).__name__
    else:
        raise ValueError(f"unsupported GIQA reference of type {type(source).__name__}")
    if extractor is None:
        raise ValueError(f"a GIQA reference of images ({what}) needs a feature extractor")
    return _features_of(items, extractor, int(batch_size), device, image_size, limit, what)
