"""The small prior shipped inside the package, so ``python restore.py`` runs right after install."""

from __future__ import annotations

import os
from pathlib import Path

EMBEDDED_NAME = "embedded"
EMBEDDED_PRIOR = Path(__file__).resolve().parents[1] / "assets" / "embedded_prior.pt"
# DDRM's step count for the embedded prior when none is given, chosen on the validation photos
# (benchmarks/prior_validation.py; README, "The embedded prior") by a rule fixed before the final
# measurement: of 20, 25, 30 and 40 steps, the best at 4x super-resolution (where DDRM's margin over
# bicubic is thinnest) among those losing no task against the paper's 20. η and η_b stay the paper's
# (0.85, 1): no other value tried was as good in every task.
EMBEDDED_DDRM_STEPS = 25


def embedded_prior_path() -> Path:
    """The shipped prior's file; a ``CheckpointUnavailableError`` when the installation lacks it."""
    if not EMBEDDED_PRIOR.is_file():
        # Imported here, not at the top: checkpoints imports this module.
        from .choices import embedded_missing_message
        from .errors import CheckpointUnavailableError

        raise CheckpointUnavailableError(embedded_missing_message(EMBEDDED_PRIOR))
    return EMBEDDED_PRIOR


def resolve_checkpoint(name_or_path: str | os.PathLike) -> str | os.PathLike:
    """``embedded`` -> the shipped prior's path; a zoo prior's name or an existing file unchanged.

    Anything else raises, before any download, the error ``load_model`` would give (a
    classifier's name, neither a name nor a file): callers resolve a prior here
    (``--model.checkpoint``), so the message lists the priors only.
    ``load_model("embedded")`` resolves the name itself.
    """
    if name_or_path == EMBEDDED_NAME:
        return str(embedded_prior_path())
    from .checkpoints import (
        check_name,  # here, not at the top: checkpoints imports this module
    )

    check_name(name_or_path, "prior")
    return name_or_path


def is_embedded(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` is the shipped prior, by name or by its file."""
    if str(name_or_path) == EMBEDDED_NAME:
        return True
    try:
        return Path(name_or_path).resolve() == EMBEDDED_PRIOR
    except (OSError, ValueError):
        return False
