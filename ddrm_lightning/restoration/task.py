"""A restoration task: which degradation, how noisy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from ..operators import parameters_of, sigma_0_of

# σ_y estimated from each photo (measurement mode only; restoration.auto_sigma).
AUTO = "auto"
DEFAULT_SIGMA_Y = 0.05
# Operators whose measurement carries no additive noise of its own: a JPEG's error is its quantization,
# known exactly from its tables, so σ_y is 0 (left out, 0 or ``auto``).
NOISELESS_OPERATORS = ("jpeg",)

# The boundary of a blur model for photos that were really blurred (measurement mode).
MEASURED_BOUNDARY = "reflect"


@dataclass
class Task:
    """One degradation of a sweep.

    Args:
        operator: operator name (``deno``, ``sr4``, ``deblur_gauss``, ``inp``, ``cs4``, …).
        sigma_y: measurement noise std on the [0, 1] pixel scale (σ₀ = 2·σ_y in model space); ``"auto"``:
            estimated from each photo (measurement mode); None: 0.05, or 0 for ``jpeg`` (its error is its
            quantization, known from its tables).
        params: extra operator parameters (e.g. ``{"fraction": 0.8, "seed": 1}`` for ``inp``).
        name: folder and CSV name of the task; defaults to ``<operator>_sigma<sigma_y>``.
    """

    operator: str = "sr4"
    sigma_y: float | Literal["auto"] | None = None
    params: dict = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.operator in NOISELESS_OPERATORS:
            if self.sigma_y not in (None, AUTO) and self.sigma_y != 0:
                raise ValueError(f"task {self.operator} takes no sigma_y (got {self.sigma_y!r}): its error is the "
                                 "quantization of the file, known exactly from its tables; leave sigma_y out")
            self.sigma_y = 0.0
        elif self.sigma_y is None:
            self.sigma_y = DEFAULT_SIGMA_Y
        if self.sigma_y != AUTO and not (isinstance(self.sigma_y, (int, float)) and not isinstance(self.sigma_y, bool)
                                         and math.isfinite(self.sigma_y) and self.sigma_y >= 0):
            raise ValueError(f"sigma_y must be a finite number >= 0 (pixel scale [0, 1]) or 'auto' (estimated from "
                             f"each photo, measurement mode), got {self.sigma_y!r}")
        if self.name is None:
            self.name = default_task_name(self.operator, self.sigma_y, self.params)
        if not self.name or any(c in self.name for c in "/\\:") or self.name.strip(".") == "":
            raise ValueError(f"task name '{self.name}' must be a non-empty folder name without '/', '\\' or ':', "
                             "and not '.' or '..'")

    @property
    def auto_sigma(self) -> bool:
        """σ_y is estimated from each photo."""
        return self.sigma_y == AUTO

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


def default_task_name(operator: str, sigma_y, params: dict | None = None) -> str:
    """``<operator>_sigma<σ_y>`` (``…_sigmaauto``); ``jpeg`` or ``jpeg_q<quality>`` for JPEG."""
    if operator in NOISELESS_OPERATORS:
        quality = (params or {}).get("quality")
        return operator if quality is None else f"{operator}_q{quality}"
    return f"{operator}_sigma{sigma_y}" if sigma_y == AUTO else f"{operator}_sigma{sigma_y:g}"


def parse_tasks(tasks: list | None) -> list[Task]:
    """Tasks from ``Task``s or dicts (a config's ``model.tasks``); one default task when none; names unique."""
    parsed = [t if isinstance(t, Task) else Task() if t is None else Task(**t) for t in (tasks or [Task()])]
    names = [t.name for t in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    return parsed
