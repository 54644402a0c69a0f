"""Loading the prior a sweep restores with, checked before any work."""

from __future__ import annotations

from ..models import load_model
from ..models.checkpoints import resolve
from ..models.embedded import resolve_checkpoint
from ..models.errors import CheckpointUnavailableError


def load_checked_prior(checkpoint: str, cache_dir: str | None, timesteps: int, *, download: bool = True):
    """The ``LoadedModel`` of ``checkpoint`` (``embedded``, a zoo name or a file), or None for a zoo
    checkpoint that is not cached when ``download`` is False (``prepare_data`` fetches it later).

    Raises for a missing or wrong checkpoint, and for more steps than its schedule has.
    """
    name = resolve_checkpoint(checkpoint)
    try:
        resolve(name, cache_dir, download=download, role="prior")
    except CheckpointUnavailableError:
        if download:
            raise
        return None
    prior = load_model(name, cache_dir=cache_dir, download=download)
    steps = prior.betas.shape[0]
    if timesteps > steps:
        raise ValueError(f"timesteps={timesteps} exceeds the schedule length {steps} of '{checkpoint}'; "
                         f"allowed: 1..{steps}")
    return prior
