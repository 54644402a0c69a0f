"""The small prior shipped inside the package, so ``python restore.py`` runs right after install.

Names and constants only (it imports nothing of the package): ``checkpoints.resolve`` turns the name into
its file, as it does every prior's name."""

from __future__ import annotations

import os
from pathlib import Path

EMBEDDED_NAME = "embedded"
EMBEDDED_PRIOR = Path(__file__).resolve().parents[1] / "assets" / "embedded_prior.pt"
# DDRM's step count for the embedded prior when none is given, chosen on the validation photos
# (benchmarks/prior_validation.py; docs/embedded_prior.md) by a rule fixed before the measurement: of
# 20 and 25 steps x eta 0.85 and 1 (30 steps would exceed 250 GFLOP per 128x128 photo and task), the best
# at 4x super-resolution among the settings losing no task against the paper's (20, 0.85). eta and eta_b
# stay the paper's (0.85, 1). Prior v5 and v3 both chose 25.
EMBEDDED_DDRM_STEPS = 25


def is_embedded(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` is the shipped prior, by name or by its file."""
    if str(name_or_path) == EMBEDDED_NAME:
        return True
    try:
        return Path(name_or_path).resolve() == EMBEDDED_PRIOR
    except (OSError, ValueError):
        return False
