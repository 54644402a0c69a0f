"""Load diffusion networks and classifiers from names (``embedded``, the prior shipped with the
package, and the zoo's) or files.

A file can hold
(a) a raw published state dict (guided-diffusion ``.pt``, ``celeba_hq.ckpt``,
    pesser's ``model-<step>.ckpt``): the zoo entry is found by comparing parameter
    names and shapes with every zoo architecture;
(b) the project's export (see ``export.py``) written by ``save_network``;
(c) a Lightning checkpoint whose key ``"ddrm_export"`` holds such an export.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from . import embedded
from .choices import (
    Role,
    check_role,
    embedded_missing_message,
    role_of,
    unavailable_message,
    unknown_message,
    wrong_role_message,
)
from .download import cache_root, download_file
from .errors import (
    ArchitectureMismatchError,
    CheckpointError,
    CheckpointUnavailableError,
    ConfigError,
    CorruptCheckpointError,
    UnknownCheckpointError,
)
from .export import EXPORT_FORMAT, read_export
from .state_dicts import (
    as_state_dict,
    closest_entry,
    describe_difference,
    match_note,
    matching_entries,
    read_checkpoint,
    shapes_of,
)
from .wrapper import EpsModel
from .zoo import ZOO, ZooEntry, build_network, zoo_signature


@dataclass
class LoadedModel:
    """A diffusion network ready for sampling, with everything the sampler needs to know about it."""

    network: nn.Module
    family: str
    config: dict[str, Any]
    image_size: int
    in_channels: int
    num_classes: int | None
    learn_sigma: bool
    betas: Tensor
    name: str
    downsample_factor: int
    entry: ZooEntry | None

    def eps_model(self) -> EpsModel:
        """The ε-predictor wrapper (padding, class labels, ε channels) around ``network``."""
        return EpsModel(self.network, self.in_channels, self.downsample_factor, self.num_classes)


class LoadedClassifier(NamedTuple):
    """A noisy-image classifier for guidance, ``network(x, t) -> logits``, and its zoo entry (None for a file
    that is not a published classifier). The network exposes ``image_size`` and ``num_classes``."""

    network: nn.Module
    entry: ZooEntry | None


def _is_name(name_or_path: str | os.PathLike) -> bool:
    return isinstance(name_or_path, str) and (name_or_path == embedded.EMBEDDED_NAME or name_or_path in ZOO)


def check_name(name_or_path: str | os.PathLike, role: Role | None = None) -> None:
    """Raise what ``resolve`` would for a name of the other ``role`` or for neither a checkpoint name nor
    an existing file; downloads and reads nothing."""
    check_role(role)
    if _is_name(name_or_path):
        own = "prior" if name_or_path == embedded.EMBEDDED_NAME else role_of(ZOO[name_or_path])
        if role is not None and own != role:
            raise CheckpointError(wrong_role_message(name_or_path, role))
    elif not Path(name_or_path).expanduser().is_file():
        raise UnknownCheckpointError(unknown_message(name_or_path, role))


def resolve(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
            download: bool = True, *, role: Role | None = None) -> tuple[Path, ZooEntry | None]:
    """The local file for a checkpoint name (``embedded``, or a zoo name: cached or downloaded) or a
    path, and the zoo entry of a zoo name: the one function that turns a prior's name into a file.

    ``role`` ("prior" or "classifier") refuses names of the other role before anything is
    downloaded and makes the error for an unknown name list that role's names only;
    None accepts and lists both.
    """
    check_name(name_or_path, role)
    if name_or_path == embedded.EMBEDDED_NAME:
        if not embedded.EMBEDDED_PRIOR.is_file():
            raise CheckpointUnavailableError(embedded_missing_message(embedded.EMBEDDED_PRIOR))
        return embedded.EMBEDDED_PRIOR, None
    if not _is_name(name_or_path):
        return Path(name_or_path).expanduser(), None
    entry = ZOO[name_or_path]
    dest = cache_root(cache_dir) / entry.file_name
    if dest.is_file():
        return dest, entry
    if not download:
        reason = "it is not in the cache and downloading is off (download=False)"
        raise CheckpointUnavailableError(unavailable_message(entry, dest, reason))
    try:
        download_file(entry.url, dest, checksum=entry.checksum)
    except CheckpointUnavailableError as err:
        raise CheckpointUnavailableError(unavailable_message(entry, dest, str(err))) from None
    return dest, entry


def _interpret(payload: Any, path: Path, entry: ZooEntry | None):
    """(family, config, state_dict, betas, entry) of a loaded file."""
    where = str(path)
    if isinstance(payload, Mapping) and payload.get("format") == EXPORT_FORMAT:
        return (*read_export(payload, where), None)
    if isinstance(payload, Mapping) and "ddrm_export" in payload:
        return (*read_export(payload["ddrm_export"], where), None)
    if isinstance(payload, Mapping) and "state_dict" in payload and "hyper_parameters" in payload:
        raise CheckpointError(f"{where} is a Lightning checkpoint without a 'ddrm_export' entry; save it with the "
                              "project's training module or export the network with save_network")
    state = as_state_dict(payload, where)
    shapes = shapes_of(state)
    if entry is not None:
        expected = zoo_signature(entry.name)
        if shapes != expected:
            difference = describe_difference(expected, shapes)
            raise ArchitectureMismatchError(
                f"{where} does not fit zoo entry '{entry.name}' ({difference}){match_note(shapes)}"
            )
        return entry.family, entry.config_dict(), state, entry.betas(), entry
    matches = matching_entries(shapes)
    if not matches:
        closest = closest_entry(shapes)
        difference = describe_difference(zoo_signature(closest.name), shapes)
        raise ArchitectureMismatchError(
            f"{where} matches no zoo architecture (closest: {closest.name}; {difference}); a raw state dict "
            "carries no config, so save your own networks with save_network"
        )
    # Several published files share one architecture (CelebA-HQ and LSUN): tell them apart by file name.
    by_name = [e for e in matches if Path(e.file_name).name == path.name]
    chosen = by_name[0] if by_name else (matches[0] if len(matches) == 1 else None)
    template = chosen or matches[0]
    return template.family, template.config_dict(), state, template.betas(), chosen


def _instantiate(family: str, config: Mapping[str, Any], state: dict[str, Tensor], where: str) -> nn.Module:
    """The network of ``family``/``config`` holding ``state``'s tensors, in eval mode."""
    try:
        with torch.device("meta"):
            network = build_network(family, config)
    except ConfigError as err:
        raise CorruptCheckpointError(f"{where}: its stored network config is invalid ({err})") from None
    expected = shapes_of(network.state_dict())
    if shapes_of(state) != expected:
        raise ArchitectureMismatchError(
            f"{where} does not fit its {family} config ({describe_difference(expected, shapes_of(state))})"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    network.load_state_dict(state, strict=True, assign=True)
    return network.eval()


def _load(name_or_path, cache_dir, download, map_location, weights_only, role: Role):
    path, entry = resolve(name_or_path, cache_dir, download, role=role)
    payload = read_checkpoint(path, map_location, weights_only)
    family, config, state, betas, entry = _interpret(payload, path, entry)
    name = name_or_path if _is_name(name_or_path) else str(path)
    return family, config, _instantiate(family, config, state, str(path)), betas, name, entry


def load_model(
    name_or_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    map_location: Any = "cpu",
    weights_only: bool = False,
) -> LoadedModel:
    """A diffusion network from ``embedded`` (the prior shipped with the package, as
    ``restore.py --model.prior embedded``), a zoo name (cached, else downloaded) or a checkpoint file.

    The network is in eval mode on ``map_location``; its parameters keep ``requires_grad``
    (so it can be fine-tuned): call ``requires_grad_(False)`` for inference.
    ``weights_only=True`` refuses files that hold arbitrary Python objects
    (see ``read_checkpoint``). Raises a ``CheckpointError`` subclass on any problem.
    """
    family, config, network, betas, name, entry = _load(
        name_or_path, cache_dir, download, map_location, weights_only, "prior"
    )
    if family == "adm_classifier":
        raise CheckpointError(f"{name} holds a classifier, not a diffusion network: give it as --model.classifier "
                              "(Python: load_classifier)")
    return LoadedModel(
        network=network, family=family, config=config, image_size=network.image_size,
        in_channels=network.in_channels, num_classes=network.num_classes,
        learn_sigma=network.out_channels == 2 * network.in_channels, betas=betas, name=name,
        downsample_factor=network.downsample_factor, entry=entry,
    )


def load_classifier(
    name_or_path: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    download: bool = True,
    map_location: Any = "cpu",
    weights_only: bool = False,
) -> LoadedClassifier:
    """A noisy-image classifier (``classifier_256``, ``classifier_512`` or a file) in eval mode, and its entry."""
    family, _, network, _, name, entry = _load(
        name_or_path, cache_dir, download, map_location, weights_only, "classifier"
    )
    if family != "adm_classifier":
        raise CheckpointError(f"{name} holds a {family} diffusion network, not a classifier: give it as "
                              "--model.prior (Python: load_model)")
    return LoadedClassifier(network, entry)
