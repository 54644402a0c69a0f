"""Photographs that ship inside scikit-image and scikit-learn: no download, always there.

They give the embedded prior its training set and ``python restore.py`` its demo
set. The demo photos are held out of training so the default sweep restores
images the prior has never seen.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

# Colour photographs restored by the default sweep; never used for training.
DEMO_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")

# Everything else that is bundled and photographic (grayscale ones are used as RGB).
TRAINING_PHOTOS = (
    "stereo_motorcycle", "hubble_deep_field", "retina", "immunohistochemistry",
    "camera", "brick", "grass", "gravel", "coins", "moon", "cell",
    "sklearn:china.jpg", "sklearn:flower.jpg",
)

FACE_PHOTOS = ("lfw_subset",)


def available() -> list[str]:
    return list(DEMO_PHOTOS) + list(TRAINING_PHOTOS) + list(FACE_PHOTOS)


def load_bundled(name: str) -> list[Image.Image]:
    """The photo(s) called ``name`` as RGB PIL images (``lfw_subset`` is 200 small faces)."""
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        return [Image.fromarray(load_sample_image(name.split(":", 1)[1])).convert("RGB")]
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if name not in available() or loader is None:
        raise ValueError(f"unknown bundled photo '{name}'; available: {', '.join(available())}")
    if name == "stereo_motorcycle":  # (left, right, disparity): the two photographs
        return [_to_rgb(np.asarray(view)) for view in loader()[:2]]
    array = np.asarray(loader())
    if name == "lfw_subset":
        return [_to_rgb(face) for face in array]
    return [_to_rgb(array)]


def _to_rgb(array: np.ndarray) -> Image.Image:
    if array.dtype != np.uint8:
        array = np.clip(array * (255.0 if array.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    return Image.fromarray(array).convert("RGB")
