"""Diffusion networks (DDPM UNet, ADM UNet, ADM classifier), the published checkpoint zoo and loading.

No Lightning here: these are plain ``nn.Module``s and functions.
"""

from .adm_classifier import ADMClassifier
from .adm_unet import ADMUNet
from .checkpoints import LoadedClassifier, LoadedModel, load_classifier, load_model
from .ddpm_unet import DDPMUNet
from .download import CACHE_ENV_VAR, cache_root, download_file
from .errors import (
    ArchitectureMismatchError,
    CheckpointError,
    CheckpointUnavailableError,
    ChecksumMismatchError,
    ConfigError,
    CorruptCheckpointError,
    UnknownCheckpointError,
)
from .export import EXPORT_FORMAT, EXPORT_VERSION, network_export, save_network
from .state_dicts import read_checkpoint
from .wrapper import EpsModel
from .zoo import ZOO, ZooEntry, build_network, linear_betas, zoo_entry, zoo_signature

__all__ = [
    "ADMClassifier", "ADMUNet", "DDPMUNet", "EpsModel",
    "ZOO", "ZooEntry", "build_network", "linear_betas", "zoo_entry", "zoo_signature",
    "LoadedModel", "LoadedClassifier", "load_model", "load_classifier", "save_network", "network_export",
    "read_checkpoint", "EXPORT_FORMAT", "EXPORT_VERSION",
    "CACHE_ENV_VAR", "cache_root", "download_file",
    "CheckpointError", "ConfigError", "UnknownCheckpointError", "CheckpointUnavailableError",
    "ChecksumMismatchError", "CorruptCheckpointError", "ArchitectureMismatchError",
]
