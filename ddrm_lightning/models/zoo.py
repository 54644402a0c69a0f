"""The published checkpoints DDRM uses, and how to build their networks.

Each ``ZooEntry`` describes one file: its network (family + config, the config
being exactly the one in ``checkpoint_manifests.json``), the diffusion
schedule it was trained with, where it is published and its checksum when
one is published. ``load_model`` (see ``checkpoints.py``) turns a name into a
ready network.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from .adm_classifier import ADMClassifier
from .adm_unet import ADMUNet
from .configs import FAMILIES, network_kwargs
from .ddpm_unet import DDPMUNet
from .errors import ConfigError, UnknownCheckpointError

NETWORK_CLASSES: dict[str, type[nn.Module]] = {"ddpm": DDPMUNet, "adm": ADMUNet, "adm_classifier": ADMClassifier}

_OPENAI = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
_HEIBOX = "https://heibox.uni-heidelberg.de/f/{}/?dl=1"


def build_network(family: str, config: Mapping[str, Any]) -> nn.Module:
    """A freshly initialised network of ``family`` ("ddpm", "adm", "adm_classifier") for ``config``.

    Accepts every config layout described in ``configs.py``. Honours the
    default device, so ``with torch.device("meta"):`` builds it without memory.
    """
    if family not in NETWORK_CLASSES:
        raise ConfigError(f"unknown network family '{family}'; allowed: {', '.join(FAMILIES)}")
    return NETWORK_CLASSES[family](**network_kwargs(family, config))


def linear_betas(start: float = 1e-4, end: float = 0.02, steps: int = 1000) -> Tensor:
    """The linear β schedule of DDPM: ``steps`` values from ``start`` to ``end``, float64."""
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0.0 < start <= end < 1.0:
        raise ValueError(f"need 0 < start <= end < 1 for a β schedule, got start={start}, end={end}")
    return torch.linspace(start, end, steps, dtype=torch.float64)


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class ZooEntry:
    """One published checkpoint. ``config`` is read-only; ``config_dict()`` gives a plain, mutable copy."""

    name: str
    family: str
    config: Mapping[str, Any] = field(hash=False)
    image_size: int
    in_channels: int
    num_classes: int | None
    learn_sigma: bool
    num_params: int
    file_name: str
    url: str
    checksum: str | None = None
    classifier: str | None = None
    description: str = ""
    url_note: str | None = None
    beta_start: float = 1e-4
    beta_end: float = 0.02
    num_timesteps: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _freeze(self.config))

    def config_dict(self) -> dict[str, Any]:
        """The network config as plain dicts and lists (equal to the manifest's ``config``)."""
        return _thaw(self.config)

    def betas(self) -> Tensor:
        return linear_betas(self.beta_start, self.beta_end, self.num_timesteps)

    def build(self) -> nn.Module:
        return build_network(self.family, self.config_dict())


def _ddpm_config(ch_mult: list[int], image_size: int) -> dict[str, Any]:
    model = {
        "type": "simple", "in_channels": 3, "out_ch": 3, "ch": 128, "ch_mult": ch_mult, "num_res_blocks": 2,
        "attn_resolutions": [16], "dropout": 0.0, "resamp_with_conv": True, "var_type": "fixedsmall",
    }
    return {"model": model, "data": {"image_size": image_size}, "diffusion": {"num_diffusion_timesteps": 1000}}


def _adm_config(image_size: int, class_cond: bool) -> dict[str, Any]:
    return {
        "image_size": image_size, "num_channels": 256, "class_cond": class_cond, "num_res_blocks": 2,
        "learn_sigma": True, "use_checkpoint": False, "attention_resolutions": "32,16,8", "num_heads": 4,
        "num_head_channels": 64, "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
        "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False,
    }


def _classifier_config(image_size: int) -> dict[str, Any]:
    return {
        "image_size": image_size, "classifier_use_fp16": False, "classifier_width": 128, "classifier_depth": 2,
        "classifier_attention_resolutions": "32,16,8", "classifier_use_scale_shift_norm": True,
        "classifier_resblock_updown": True, "classifier_pool": "attention",
    }


def _lsun_cifar(name: str, key: str, step: int, md5: str, ch_mult: list[int], size: int, params: int) -> ZooEntry:
    dataset = name.replace("_", " ").replace("lsun", "LSUN").replace("cifar10", "CIFAR-10")
    return ZooEntry(
        name=name, family="ddpm", config=_ddpm_config(ch_mult, size), image_size=size, in_channels=3,
        num_classes=None, learn_sigma=False, num_params=params,
        file_name=f"ema_diffusion_{name}_model/model-{step}.ckpt", url=_HEIBOX.format(key), checksum=f"md5:{md5}",
        description=f"DDPM (Ho et al.) {dataset}, EMA weights converted by pesser/pytorch_diffusion",
    )


def _imagenet(name: str, size: int, cond: bool, params: int) -> ZooEntry:
    file_name = f"{size}x{size}_diffusion{'' if cond else '_uncond'}.pt"
    kind = "class-conditional" if cond else "unconditional"
    return ZooEntry(
        name=name, family="adm", config=_adm_config(size, cond), image_size=size, in_channels=3,
        num_classes=1000 if cond else None, learn_sigma=True, num_params=params, file_name=file_name,
        url=_OPENAI + file_name, classifier=f"classifier_{size}" if cond else None,
        description=f"ADM (guided-diffusion) ImageNet {size}x{size}, {kind}",
    )


def _classifier(size: int, params: int) -> ZooEntry:
    file_name = f"{size}x{size}_classifier.pt"
    return ZooEntry(
        name=f"classifier_{size}", family="adm_classifier", config=_classifier_config(size), image_size=size,
        in_channels=3, num_classes=1000, learn_sigma=False, num_params=params, file_name=file_name,
        url=_OPENAI + file_name, description=f"ADM noisy-image ImageNet classifier {size}x{size} (guidance)",
    )


ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        ZooEntry(
            name="celeba_hq", family="ddpm", config=_ddpm_config([1, 1, 2, 2, 4, 4], 256), image_size=256,
            in_channels=3, num_classes=None, learn_sigma=False, num_params=113_673_219, file_name="celeba_hq.ckpt",
            url="https://image-editing-test-12345.s3-us-west-2.amazonaws.com/checkpoints/celeba_hq.ckpt",
            description="DDPM CelebA-HQ 256x256 (released with SDEdit, used by DDRM)",
            url_note="users report that this address now answers HTTP 403 Forbidden",
        ),
        _lsun_cifar("lsun_bedroom", "b95206528f384185889b", 2388000, "1921fa46b66a3665e450e42f36c2720f",
                    [1, 1, 2, 2, 4, 4], 256, 113_673_219),
        _lsun_cifar("lsun_church", "44ccb50ef3c6436db52e", 4432000, "fdc68a23938c2397caba4a260bc2445f",
                    [1, 1, 2, 2, 4, 4], 256, 113_673_219),
        _lsun_cifar("lsun_cat", "0701aac3aa69457bbe34", 1761000, "646f23f4821f2459b8bafc57fd824558",
                    [1, 1, 2, 2, 4, 4], 256, 113_673_219),
        _lsun_cifar("cifar10", "2e4f01e2d9ee49bab1d5", 790000, "1fa350b952534ae442b1d5235cce5cd3",
                    [1, 2, 2, 2], 32, 35_746_307),
        _imagenet("imagenet_256_uncond", 256, False, 552_814_086),
        _imagenet("imagenet_256_cond", 256, True, 553_838_086),
        _imagenet("imagenet_512_cond", 512, True, 558_997_638),
        _classifier(256, 54_096_360),
        _classifier(512, 54_448_360),
    )
}


def zoo_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``."""
    if name not in ZOO:
        raise UnknownCheckpointError(f"unknown zoo checkpoint '{name}'; allowed: {', '.join(ZOO)}")
    return ZOO[name]


@functools.lru_cache(maxsize=None)
def _signature_items(name: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    with torch.device("meta"):
        network = zoo_entry(name).build()
    return tuple((k, tuple(v.shape)) for k, v in network.state_dict().items())


def zoo_signature(name: str) -> dict[str, tuple[int, ...]]:
    """Parameter names and shapes of the zoo entry's network (built once on the meta device)."""
    return dict(_signature_items(name))


def copy_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A plain deep copy of a config (mappings as dicts, sequences as lists)."""
    return _thaw(_freeze(config))
