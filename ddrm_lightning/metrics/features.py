"""Image feature extractors for FID, KID and GIQA: Inception pool3, or any network.

Inception-v3 here is the TensorFlow FID network as torch-fidelity ports it (the network
torchmetrics' FID/KID use too), 2048-d pool3 features, fed images the way the chosen FID
convention says (``conventions.py``). Its weights file, accepted under two names:

* ``weights-inception-2015-12-05-6726825d.pth`` (torch-fidelity, the file torchmetrics loads;
  the one fetched into the torch hub cache on first use, 91 MiB)
* ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid; same weights and layout)

A custom extractor is any module or callable mapping RGB images in [0, 1], (B, 3, H, W),
to features (B, D): tests use tiny fixed networks, and results are then only comparable
with results from the same extractor.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ._rng import global_rng_untouched
from .availability import Unavailable, short_error
from .conventions import DEFAULT_FID_CONVENTION, check_convention, resize_like_clean_fid
from .fetching import obtain_weight
from .weights import weight_file

INCEPTION_FILES = weight_file("inception").file_names
INCEPTION_SIZE = 299
# torch-fidelity's FeatureExtractorInceptionV3 children from the input to pool3, in order.
_POOL3_LAYERS = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
                 "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                 "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c", "AvgPool")


def to_uint8(images01: Tensor) -> Tensor:
    """[0, 1] floats to the 0..255 bytes an 8-bit PNG of them holds (clamp, round)."""
    return (images01.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


class InceptionPool3(nn.Module):
    """Inception-v3 (FID weights) pool3 features, (B, 2048), of RGB images in [0, 1].

    Images are quantised to 8 bits as when saved to PNG, then resized to 299x299 and scaled to
    [-1, 1] as ``convention`` says (``conventions.py``): torch-fidelity's own extractor, clean-fid's
    PIL bicubic resize before torch-fidelity's layers, or torchmetrics' antialiased bilinear.
    """

    num_features = 2048

    def __init__(self, weights_file: str | Path, convention: str = DEFAULT_FID_CONVENTION) -> None:
        super().__init__()
        self.convention = check_convention(convention)
        with global_rng_untouched():
            if convention == "torchmetrics":
                from torchmetrics.image.fid import NoTrainInceptionV3

                self.net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                                              feature_extractor_weights_path=str(weights_file), antialias=True)
            else:
                from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

                self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                       feature_extractor_weights_path=str(weights_file))

    def train(self, mode: bool = True) -> InceptionPool3:
        return super().train(False)  # batch norm must keep its running statistics

    @torch.no_grad()
    def forward(self, images01: Tensor) -> Tensor:
        images = to_uint8(images01)
        if self.convention == "clean-fid":
            return self._pool3((resize_like_clean_fid(images, INCEPTION_SIZE) - 128.0) / 128.0)
        features = self.net(images)
        return (features[0] if isinstance(features, tuple) else features).float()

    def _pool3(self, scaled: Tensor) -> Tensor:
        """torch-fidelity's layers up to pool3 on images already at 299x299 in [-1, 1]."""
        x = scaled.to(next(self.net.parameters()).dtype)
        for name in _POOL3_LAYERS:
            x = getattr(self.net, name)(x)
        return torch.flatten(x, 1).float()


def load_inception(
    inception_weights: str | Path | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    convention: str = DEFAULT_FID_CONVENTION,
) -> InceptionPool3 | Unavailable:
    """The Inception pool3 extractor if torch-fidelity and the weights are there, else ``Unavailable``.

    ``inception_weights``: the weights file (any name) or a folder holding it; None = the torch
    hub cache, fetched into on first use when ``download`` is True. ``convention``: how images
    reach the network (``conventions.FID_CONVENTIONS``).
    """
    check_convention(convention)
    if importlib.util.find_spec("torch_fidelity") is None:
        return Unavailable("the Inception network needs the torch-fidelity package (pip install torch-fidelity)")
    found = obtain_weight("inception", inception_weights, download=download, progress=progress)
    if isinstance(found, Unavailable):
        return found
    try:
        # torch-fidelity unpickles the file without restrictions: only hand it plain tensors.
        torch.load(found, map_location="cpu", weights_only=True)
        return InceptionPool3(found, convention)
    except Exception as error:  # a corrupt or foreign file must not stop a sweep
        return Unavailable(f"could not load Inception-v3 weights from {found}: {short_error(error)}")


class CustomFeatures(nn.Module):
    """A user extractor, (B, 3, H, W) in [0, 1] -> (B, D), with ``num_features`` known.

    ``num_features`` is the extractor's own attribute when it has one, else it is read off
    one all-zero probe image of ``probe_size`` pixels (no random input).
    """

    def __init__(self, extractor: Callable[[Tensor], Tensor], probe_size: int = 64) -> None:
        super().__init__()
        if not callable(extractor):
            raise ValueError(f"feature_extractor must be a callable images -> (B, D), got {type(extractor).__name__}")
        self.extractor = extractor  # registered as a submodule when it is one, so .to(device) moves it
        declared = getattr(extractor, "num_features", None)
        if declared is not None:
            self.num_features = int(declared)
        else:
            with torch.no_grad():
                probe = torch.zeros(1, 3, probe_size, probe_size, device=_device_of(extractor))
                self.num_features = int(self._flat(extractor(probe)).shape[1])

    @staticmethod
    def _flat(features: Tensor) -> Tensor:
        return features.reshape(features.shape[0], -1)

    @torch.no_grad()
    def forward(self, images01: Tensor) -> Tensor:
        return self._flat(self.extractor(images01.float().clamp(0.0, 1.0))).float()


def _device_of(extractor: object) -> torch.device:
    if isinstance(extractor, nn.Module):
        for tensor in list(extractor.parameters()) + list(extractor.buffers()):
            return tensor.device
    return torch.device("cpu")


def feature_network(
    feature_extractor: Callable[[Tensor], Tensor] | None,
    inception_weights: str | Path | None,
    *,
    download: bool = True,
    progress: bool = True,
    convention: str = DEFAULT_FID_CONVENTION,
) -> nn.Module | Unavailable:
    """The extractor the distribution metrics and GIQA use: the custom one if given, else Inception
    fed by ``convention`` (which a custom extractor, given images in [0, 1], does not use)."""
    check_convention(convention)
    if feature_extractor is not None:
        return feature_extractor if isinstance(feature_extractor, CustomFeatures) else CustomFeatures(feature_extractor)
    return load_inception(inception_weights, download=download, progress=progress, convention=convention)


@torch.no_grad()
def extract_features(extractor: Callable[[Tensor], Tensor], images01: Tensor, batch_size: int = 32) -> Tensor:
    """Features (N, D) of images (N, 3, H, W) in [0, 1], computed ``batch_size`` at a time."""
    if images01.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images01.shape)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    chunks = [extractor(images01[i : i + batch_size]) for i in range(0, images01.shape[0], batch_size)]
    return torch.cat([c.reshape(c.shape[0], -1).float() for c in chunks])
