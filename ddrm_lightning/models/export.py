"""The project's own network file format, readable with PyTorch's tensors-only loader:
``{"format": "ddrm_lightning.network", "version": 1, "family", "config", "betas", "state_dict"}``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import (
    ArchitectureMismatchError,
    CheckpointError,
    ConfigError,
    CorruptCheckpointError,
)
from .configs import ddpm_kwargs
from .state_dicts import as_state_dict, describe_difference, shapes_of
from .zoo import build_network, copy_config

EXPORT_FORMAT = "ddrm_lightning.network"
EXPORT_VERSION = 1


def _plain(value: Any, where: str = "config") -> Any:
    """A config as plain dicts/lists/scalars, which the tensors-only loader can read back."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"{where} holds a {type(value).__name__}; a saved config may hold only dicts, lists, "
                      "numbers, strings, booleans and None")


def check_betas(betas: Tensor, where: str) -> Tensor:
    betas = torch.as_tensor(betas)
    if betas.ndim != 1 or betas.numel() == 0 or not bool(((betas > 0) & (betas < 1)).all()):
        raise ConfigError(f"{where}: betas must be a non-empty 1-D tensor with values in (0, 1)")
    return betas.detach().to("cpu", torch.float64)


def network_export(network: nn.Module, family: str, config: Mapping[str, Any], betas: Tensor) -> dict[str, Any]:
    """The export dict of ``network`` (see the module docstring); put it under ``"ddrm_export"`` in a
    Lightning checkpoint, or write it with ``save_network``. Checks that ``config`` builds ``network``."""
    config = _plain(config)
    with torch.device("meta"):
        expected = shapes_of(build_network(family, config).state_dict())
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    if shapes_of(state) != expected:
        raise ArchitectureMismatchError(
            f"the network does not match its {family} config: {describe_difference(expected, shapes_of(state))}"
        )
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "family": family,
        "config": config,
        "betas": check_betas(betas, "save_network"),
        "state_dict": state,
    }


def save_network(
    path: str | os.PathLike, network: nn.Module, family: str, config: Mapping[str, Any], betas: Tensor,
    half: bool = False,
) -> Path:
    """Write ``network_export(...)`` to ``path`` atomically (temporary file in the same folder, then rename);
    ``half`` stores floating-point weights in float16 (half the file; loading casts back to float32)."""
    path = Path(path)
    export = network_export(network, family, config, betas)
    if half:
        export["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in export["state_dict"].items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(export, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def with_native_size(family: str, config: Mapping[str, Any], size: int) -> dict[str, Any]:
    """``config`` declaring ``size`` as the network's own image size, with attention kept at the same levels:
    the same layers and weights, so ``tile: auto`` runs the network on ``size``² tiles (e.g. a 64² prior
    fine-tuned on 128² crops). DDPM family only (its attention is placed by resolution)."""
    if family != "ddpm":
        raise ConfigError(f"a native size can be declared for the ddpm family only, not {family}")
    kwargs = ddpm_kwargs(config)
    old, levels = kwargs["image_size"], len(kwargs["ch_mult"])
    if size <= 0 or (size % old and old % size):
        raise ConfigError(f"native size {size} must be a multiple or a divisor of the network's {old}")
    if size % 2 ** (levels - 1):
        raise ConfigError(f"native size {size} must be divisible by {2 ** (levels - 1)} ({levels} levels)")
    if any(old % r for r in kwargs["attn_resolutions"]):
        raise ConfigError(f"attn_resolutions {kwargs['attn_resolutions']} must divide image_size {old}")
    config = copy_config(config)
    model, data = (config["model"], config["data"]) if "model" in config else (config, config)
    model["attn_resolutions"] = [size // (old // r) for r in kwargs["attn_resolutions"]]
    data["image_size"] = int(size)
    return config


def read_export(export: Any, where: str) -> tuple[str, dict[str, Any], dict[str, Tensor], Tensor]:
    if not isinstance(export, Mapping) or export.get("format") != EXPORT_FORMAT:
        raise CorruptCheckpointError(f"{where}: 'ddrm_export' is not a {EXPORT_FORMAT} export")
    if export.get("version") != EXPORT_VERSION:
        raise CheckpointError(f"{where}: export version {export.get('version')!r} is not supported; "
                              f"this version of ddrm_lightning reads version {EXPORT_VERSION}")
    missing = [k for k in ("family", "config", "betas", "state_dict") if k not in export]
    if missing:
        raise CorruptCheckpointError(f"{where}: the export lacks {missing}")
    state = as_state_dict(export["state_dict"], where)
    return export["family"], copy_config(export["config"]), state, check_betas(export["betas"], where)
