"""The pretrained weight files the metrics use, and where they are looked for on disk.

Weights are looked up in exactly one place: the path the user gave, or, when none was given,
the torch hub cache (``torch.hub.get_dir()/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``,
by default ``~/.cache/torch/hub/checkpoints``), which is where torchvision and torch-fidelity
store what they download, so every one of them finds what another fetched. Fetching a missing
file into the hub cache is ``fetching.py``'s job.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from .availability import Unavailable

_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,64})\.")  # torch hub's convention: <name>-<sha256 prefix>.<ext>


@dataclass(frozen=True)
class WeightFile:
    """One published weight file.

    Attributes:
        key: short name (``alexnet``, ``vgg16``, ``inception``).
        file_name: the published name, which carries the leading hex digits of its sha256.
        url: where it is published.
        size_mib: its size, for messages and ``--list``.
        what: the network, for messages ("LPIPS-alex backbone").
        used_by: the metric columns that need it.
        fetch_group: the ``python -m ddrm_lightning.fetch`` name that fetches it.
        also_accepted: other names of the same weights that count when already on disk.
    """

    key: str
    file_name: str
    url: str
    size_mib: float
    what: str
    used_by: str
    fetch_group: str
    also_accepted: tuple[str, ...] = ()

    @property
    def sha256_prefix(self) -> str:
        match = _HASH_IN_NAME.search(self.file_name)
        if match is None:
            raise ValueError(f"{self.file_name} carries no sha256 prefix (<name>-<hex>.<ext>)")
        return match.group(1)

    @property
    def checksum(self) -> str:
        return f"sha256:{self.sha256_prefix}"

    @property
    def file_names(self) -> tuple[str, ...]:
        return (self.file_name, *self.also_accepted)


# torchvision's ImageNet classifiers (AlexNet_Weights / VGG16_Weights.IMAGENET1K_V1) and the
# TensorFlow FID Inception as torch-fidelity publishes it (the file torchmetrics' FID and KID load;
# pytorch-fid publishes the same weights as pt_inception-2015-12-05-6726825d.pth).
WEIGHT_FILES: dict[str, WeightFile] = {
    w.key: w
    for w in (
        WeightFile("alexnet", "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                   233.1, "LPIPS-alex backbone", "lpips_alex", "lpips"),
        WeightFile("vgg16", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
                   527.8, "LPIPS-vgg backbone", "lpips_vgg", "lpips"),
        WeightFile("inception", "weights-inception-2015-12-05-6726825d.pth",
                   "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                   "weights-inception-2015-12-05-6726825d.pth",
                   91.2, "Inception-v3 (FID)", "fid, kid, giqa_*", "fid",
                   also_accepted=("pt_inception-2015-12-05-6726825d.pth",)),
    )
}

# Names ``python -m ddrm_lightning.fetch`` accepts for metric weights.
METRIC_GROUPS: dict[str, tuple[str, ...]] = {
    "lpips": ("alexnet", "vgg16"),
    "lpips_alex": ("alexnet",),
    "lpips_vgg": ("vgg16",),
    "fid": ("inception",),
    "kid": ("inception",),
    "giqa": ("inception",),
    "inception": ("inception",),
    "metrics": ("alexnet", "vgg16", "inception"),
}


def weight_file(key: str) -> WeightFile:
    if key not in WEIGHT_FILES:
        raise ValueError(f"unknown weight file '{key}'; allowed: {', '.join(WEIGHT_FILES)}")
    return WEIGHT_FILES[key]


def hub_checkpoint_dir() -> Path:
    """The folder torch hub downloads checkpoints into (and loads them from)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weight(weight: WeightFile) -> Path | None:
    """The file of ``weight`` in the hub cache under any accepted name, or None."""
    folder = hub_checkpoint_dir()
    return next((folder / n for n in weight.file_names if (folder / n).is_file()), None)


def lpips_linear_file(net: str) -> Path:
    """LPIPS v0.1's calibrated linear layers for ``net``, shipped inside torchmetrics (never fetched)."""
    import torchmetrics.functional.image.lpips as tm_lpips

    return Path(tm_lpips.__file__).resolve().parent / "lpips_models" / f"{net}.pth"


def find_weights(
    filenames: Sequence[str],
    location: str | Path | None,
    what: str,
    *,
    accept_any_file: bool = True,
) -> Path | Unavailable:
    """The weight file for ``what``, or ``Unavailable`` saying where it was looked for.

    Args:
        filenames: the accepted file names, in order of preference.
        location: a file, or a folder holding one of ``filenames`` directly or in its
            ``checkpoints/`` subfolder (a torch hub folder); None means the hub cache.
        what: the network's name, for the reason string.
        accept_any_file: when ``location`` is a file, use it whatever its name. When
            False (one location serves several networks) a file whose name is not one
            of ``filenames`` stands for the folder it is in.
    """
    if location is None:
        folders = [hub_checkpoint_dir()]
    else:
        path = Path(location).expanduser()
        if path.is_file():
            if accept_any_file or path.name in filenames:
                return path
            folders = [path.parent]
        elif path.is_dir():
            folders = [path, path / "checkpoints"]
        else:
            return Unavailable(f"{what} weights path {path} does not exist")
    for folder in folders:
        for name in filenames:
            if (folder / name).is_file():
                return folder / name
    return Unavailable(
        f"{what} weights not found: no {' or '.join(filenames)} in {' or '.join(str(f) for f in folders)}"
    )
