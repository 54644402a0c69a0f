"""The plan a prior restores with — steps per sample, posterior samples, which estimate is the picture —
made concrete from what was given (``RestorationSettings``' ``steps``, ``samples``, ``estimate``; None: not given).

DDRM on the embedded prior with none of the three given runs the prior's own plan (``EMBEDDED_PLAN``,
chosen on photos it never saw); otherwise samples default to 1 (2 for the mean), the estimate to one
sample, and DDRM's steps on the embedded prior to ``EMBEDDED_DDRM_STEPS`` (other steps: the method's
published count, left None here for the sampler to fill).
"""

from __future__ import annotations

from typing import NamedTuple

from ..models.embedded import EMBEDDED_DDRM_STEPS, EMBEDDED_PLAN, is_embedded


class Plan(NamedTuple):
    steps: int | None  # None: the method's published count
    samples: int
    estimate: str


def resolved_plan(prior: str, method: str, steps: int | None, samples: int | None, estimate: str | None) -> Plan:
    embedded_ddrm = method == "ddrm" and is_embedded(prior)
    if embedded_ddrm and steps is None and samples is None and estimate is None:
        return Plan(**EMBEDDED_PLAN)
    estimate = "sample" if estimate is None else str(estimate)
    if samples is None:
        samples = 2 if estimate == "mean" else 1
    if steps is None and embedded_ddrm:
        steps = EMBEDDED_DDRM_STEPS
    return Plan(steps, int(samples), estimate)
