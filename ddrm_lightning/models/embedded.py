"""The small prior shipped inside the package, so ``python restore.py`` runs right after install.

Names and constants only (it imports nothing of the package): ``checkpoints.resolve`` turns the name into
its file, as it does every prior's name."""

from __future__ import annotations

import os
from pathlib import Path

EMBEDDED_NAME = "embedded"
EMBEDDED_PRIOR = Path(__file__).resolve().parents[1] / "assets" / "embedded_prior.pt"
# What DDRM runs on the embedded prior when none of steps, samples and estimate is given: the mean of two
# 14-step posterior samples (28 network passes, 240 GFLOP per 128x128 photo and task), chosen on photos the
# prior never saw (docs/embedded_prior.md, the v6 section): it met every quality bar within the 250-GFLOP budget,
# where no single sample measured (of this network or another, steps, eta and eta_b re-chosen) did. eta and
# eta_b stay the paper's (0.85, 1).
EMBEDDED_PLAN = {"steps": 14, "samples": 2, "estimate": "mean"}
# DDRM's step count for the embedded prior when some of the plan is given but not the steps: the count
# chosen for one sample by a rule fixed before the measurement (of 20, 25 and 29 steps, the best at 4x
# super-resolution losing no task against 25). Priors v3, v5 and v6 all chose 25.
EMBEDDED_DDRM_STEPS = 25


def is_embedded(name_or_path: str | os.PathLike) -> bool:
    """Whether ``name_or_path`` is the shipped prior, by name or by its file."""
    if str(name_or_path) == EMBEDDED_NAME:
        return True
    try:
        return Path(name_or_path).resolve() == EMBEDDED_PRIOR
    except (OSError, ValueError):
        return False
