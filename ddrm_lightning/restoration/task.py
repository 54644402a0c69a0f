"""A restoration task: which degradation, how noisy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..operators import parameters_of, sigma_0_of

# The boundary of a blur model for photos that were really blurred (measurement mode).
MEASURED_BOUNDARY = "reflect"


@dataclass
class Task:
    """One degradation of a sweep.

    Args:
        operator: operator name (``deno``, ``sr4``, ``deblur_gauss``, ``inp``, ``cs4``, …).
        sigma_y: measurement noise std on the [0, 1] pixel scale (σ₀ = 2·σ_y in model space).
        params: extra operator parameters (e.g. ``{"fraction": 0.8, "seed": 1}`` for ``inp``).
        name: folder and CSV name of the task; defaults to ``<operator>_sigma<sigma_y>``.
    """

    operator: str = "sr4"
    sigma_y: float = 0.05
    params: dict = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.sigma_y, (int, float)) and math.isfinite(self.sigma_y) and self.sigma_y >= 0):
            raise ValueError(f"sigma_y must be a finite number >= 0 (pixel scale [0, 1]), got {self.sigma_y}")
        if self.name is None:
            self.name = f"{self.operator}_sigma{self.sigma_y:g}"
        if not self.name or any(c in self.name for c in "/\\:") or self.name.strip(".") == "":
            raise ValueError(f"task name '{self.name}' must be a non-empty folder name without '/', '\\' or ':', "
                             "and not '.' or '..'")

    @property
    def sigma_0(self) -> float:
        """Noise std in model space ([-1, 1] images)."""
        return sigma_0_of(self.sigma_y)

    def operator_params(self, measured: bool = False) -> dict:
        """The operator's parameters: ``params``, and for a photo that was really blurred
        (``measured``) a reflecting boundary unless one is given — a real photo has no zero
        border, and a zero-padded blur model would ring along its edges."""
        params = dict(self.params)
        if measured and "boundary" not in params and not params.get("legacy") \
                and "boundary" in parameters_of(self.operator):
            params["boundary"] = MEASURED_BOUNDARY
        return params


def parse_tasks(tasks: list | None) -> list[Task]:
    """Tasks from ``Task``s or dicts (a config's ``model.tasks``); one default task when none; names unique."""
    parsed = [t if isinstance(t, Task) else Task() if t is None else Task(**t) for t in (tasks or [Task()])]
    names = [t.name for t in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    return parsed
