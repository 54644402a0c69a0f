"""LPIPS (Zhang et al., CVPR 2018) with AlexNet or VGG16 features.

The network is torchmetrics' LPIPS (the one behind ``LearnedPerceptualImagePatchSimilarity``):
its linear calibration layers (LPIPS v0.1) ship inside torchmetrics (``lpips_models/alex.pth``,
``lpips_models/vgg.pth``); its backbone is torchvision's ImageNet classifier:

* alex: ``alexnet-owt-7be5be79.pth`` (torchvision ``AlexNet_Weights.IMAGENET1K_V1``, 233 MiB)
* vgg:  ``vgg16-397923af.pth``       (torchvision ``VGG16_Weights.IMAGENET1K_V1``, 528 MiB)

read from the folder given as ``lpips_weights`` (or its ``checkpoints/``), else from the torch
hub cache, where it is fetched on first use (``fetching.py``) unless ``download`` is False. When
it cannot be had the metric is ``Unavailable``; nothing is computed with random weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torchmetrics.functional.image.lpips import _NoTrainLpips

from ._rng import global_rng_untouched
from .availability import Unavailable, short_error
from .fetching import obtain_weight
from .weights import lpips_linear_file, weight_file

# LPIPS backbone name -> (torchvision architecture, its weights enum)
_BACKBONES = {"alex": ("alexnet", "AlexNet_Weights"), "vgg": ("vgg16", "VGG16_Weights")}
_WEIGHT_KEYS = {"alex": "alexnet", "vgg": "vgg16"}
LPIPS_NETS = tuple(_BACKBONES)


def _check_net(net: str) -> None:
    if net not in _BACKBONES:
        raise ValueError(f"unknown LPIPS network '{net}'; allowed: {', '.join(LPIPS_NETS)}")


def lpips_backbone_filename(net: str) -> str:
    """The file name torchvision caches the ImageNet weights of ``net``'s backbone under."""
    _check_net(net)
    weights_enum = getattr(torchvision.models, _BACKBONES[net][1])
    return weights_enum.DEFAULT.url.rsplit("/", 1)[-1]


def _backbone_features(net: str, weights_file: Path) -> nn.Sequential:
    """The convolutional part of the torchvision backbone, loaded from ``weights_file``."""
    # Built on the meta device: no random initialisation (slow, and a global RNG draw);
    # every parameter is then filled from the file (strict load).
    with torch.device("meta"):
        model = getattr(torchvision.models, _BACKBONES[net][0])(weights=None)
    layers = model.features.to_empty(device="cpu")
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    # LPIPS only uses the convolutional features: a file without the classifier will do.
    features = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    layers.load_state_dict(features, strict=True)
    return layers


# AlexNet's strided first layers leave nothing of a smaller image (VGG needs 16).
LPIPS_MIN_SIZE = 32


def lpips_undefined(height: int, width: int) -> str:
    """Why LPIPS has no value for an image of this size ("" when it has one)."""
    if min(height, width) >= LPIPS_MIN_SIZE:
        return ""
    return f"LPIPS needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} pixels, got {height}x{width}"


class LPIPS(nn.Module):
    """LPIPS distance per image pair; 0 for identical images, larger is more different.

    Inputs are RGB in [0, 1] (clamped), shape (B, 3, H, W), H and W at least 32; they are
    mapped to [-1, 1] as LPIPS expects. Always in eval mode, no gradients.
    """

    def __init__(self, net: str, backbone_file: str | Path) -> None:
        super().__init__()
        _check_net(net)
        self.net_name = net
        with global_rng_untouched():
            # pnet_rand: build the backbone without weights (no download); they are set below.
            self.lpips = _NoTrainLpips(pretrained=True, net=net, pnet_rand=True)
        features = _backbone_features(net, Path(backbone_file))
        for stage in self.lpips.net.children():
            for index, layer in stage.named_children():
                layer.load_state_dict(features[int(index)].state_dict())
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, restored: Tensor, original: Tensor) -> Tensor:
        if restored.ndim != 4 or restored.shape[1] != 3 or restored.shape != original.shape:
            raise ValueError(
                f"LPIPS needs two RGB batches (B, 3, H, W) of one shape, got {tuple(restored.shape)} "
                f"and {tuple(original.shape)}"
            )
        note = lpips_undefined(*restored.shape[-2:])
        if note:
            raise ValueError(note)
        a = restored.float().clamp(0.0, 1.0)
        b = original.float().clamp(0.0, 1.0)
        return self.lpips(a, b, normalize=True).reshape(a.shape[0])


def load_lpips(
    net: str, lpips_weights: str | Path | None = None, *, download: bool = True, progress: bool = True
) -> LPIPS | Unavailable:
    """LPIPS with backbone ``net`` ('alex' or 'vgg') if its weights can be had, else ``Unavailable``.

    ``lpips_weights``: a folder (or a file in it) holding the backbone file; None = the torch hub
    cache, fetched into on first use when ``download`` is True.
    """
    _check_net(net)
    linear = lpips_linear_file(net)
    if not linear.is_file():
        return Unavailable(f"LPIPS-{net} linear layers not found at {linear} (they ship with torchmetrics: reinstall it)")
    weight = weight_file(_WEIGHT_KEYS[net])
    found = obtain_weight(weight, lpips_weights, download=download, progress=progress, accept_any_file=False)
    if isinstance(found, Unavailable):
        return found
    try:
        return LPIPS(net, found)
    except Exception as error:  # a corrupt or foreign file must not stop a sweep
        return Unavailable(f"could not load LPIPS-{net} backbone from {found}: {short_error(error)}")
