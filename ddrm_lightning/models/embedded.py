"""The small prior shipped inside the package, so ``python restore.py`` runs right after install.

Names and constants only (it imports nothing of the package): ``checkpoints.resolve`` turns the name into
its file, as it does every prior's name."""

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


def is_embedded(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` is the shipped prior, by name or by its file."""
    if str(name_or_path) == EMBEDDED_NAME:
        return True
    try:
        return Path(name_or_path).resolve() == EMBEDDED_PRIOR
    except (OSError, ValueError):
        return False
