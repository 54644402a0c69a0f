"""Zero-shot restoration samplers (DDRM and its siblings) as pure functions of tensors; noise comes in
through per-sample generators. ``METHODS`` names them all; ``tiles`` runs a network on tiles."""

from .baselines import wiener
from .ddnm import ddnm, ddnm_plus
from .ddrm import ddrm
from .diffpir import diffpir
from .dps import dps
from .guidance import classifier_guidance
from .methods import METHODS, method_defaults, method_parameters, validate_method
from .pigdm import pigdm
from .schedule import alphas_cumprod_of, linear_alphas_cumprod, skip_timesteps

__all__ = [
    "METHODS", "alphas_cumprod_of", "classifier_guidance", "ddnm", "ddnm_plus", "ddrm", "diffpir", "dps", "linear_alphas_cumprod",
    "method_defaults", "method_parameters", "pigdm", "skip_timesteps",
    "validate_method", "wiener",
]
