"""DDRM sampling as pure functions of tensors (noise passed in through generators)."""

from .baselines import wiener
from .ddrm import ddrm, validate_hyperparameters
from .guidance import classifier_guidance
from .schedule import linear_alphas_cumprod, skip_timesteps

__all__ = ["ddrm", "validate_hyperparameters", "classifier_guidance", "wiener", "linear_alphas_cumprod", "skip_timesteps"]
