"""A restoration task: which degradation, how noisy."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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
        if not self.name or any(c in self.name for c in "/\\:"):
            raise ValueError(f"task name '{self.name}' must be a non-empty folder name without '/', '\\' or ':'")

    @property
    def sigma_0(self) -> float:
        """Noise std in model space ([-1, 1] images)."""
        return 2.0 * float(self.sigma_y)
