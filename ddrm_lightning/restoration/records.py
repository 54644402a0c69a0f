"""A restored batch as per-(sample, task) records: the pictures and CSV rows the writer stores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..metrics.image import ssim_undefined, to_unit
from ..metrics.perceptual import lpips_undefined
from .core import RestoredBatch, SamplerSettings
from .task import Task


@dataclass
class MethodOutcome:
    """How one method did on one (sample, task): its scores and status (a row of ``metrics.csv``).

    ``seconds`` and ``params`` (the method's settings as JSON) are set on the restoration's own
    outcome, not on the baselines'; a failed outcome has status ``error`` and a one-line message.
    """

    method: str
    scores: dict[str, float] = field(default_factory=dict)
    status: str = "ok"  # ok, warning (restored, but see the message) or error
    message: str = ""
    seconds: float | None = None
    params: str = ""

    @property
    def ok(self) -> bool:
        """Restored: status ``ok``, or ``warning`` (a picture and scores, with a note)."""
        return self.status in ("ok", "warning")


@dataclass
class Restoration:
    """What one (sample, task) produced; images are (C, H, W) in [0, 1] on the CPU."""

    task: str
    id: str
    source: str
    seed: int
    operator: str
    sigma_y: float | None  # the σ_y used (estimated with sigma_y auto); None: not known (an image that failed first)
    images: dict[str, Tensor] = field(default_factory=dict)  # restored, degraded, original, observed, wiener
    # posterior samples besides the restored picture (--model.samples > 1); all of them when it is their mean
    samples: list[Tensor] = field(default_factory=list)
    outcomes: list[MethodOutcome] = field(default_factory=list)  # one per method (restoration, baselines)
    restored_is_mean: bool = False  # the restored picture is the mean of ``samples`` (--model.estimate mean)

    def posterior_samples(self) -> list[Tensor]:
        """Every posterior sample of a run with several (in draw order), or [] for a run with one."""
        if self.restored_is_mean or not self.samples:
            return list(self.samples)
        return [self.images["restored"], *self.samples]


def _record(task: Task, batch: dict, i: int) -> Restoration:
    return Restoration(task=task.name, id=batch["id"][i], source=batch["source"][i], seed=int(batch["seed"][i]),
                       operator=task.operator, sigma_y=None if task.auto_sigma else task.sigma_y)


def package(task: Task, batch: dict, result: RestoredBatch, scores: dict[str, dict[str, Tensor]],
            settings: SamplerSettings) -> list[Restoration]:
    """One ``Restoration`` per sample: its pictures, and one row per method with ``scores`` (the
    restoration's row also with its settings as JSON, ``params``).

    A sample whose restoration went non-finite gets an error row and no restored picture; a score
    that cannot be computed for the image (SSIM under 11×11, LPIPS under 32×32) is NaN, its row says why.
    """
    ran = result.params if result.params is not None else settings.sampler_params()
    mean = settings.estimate == "mean"
    # The row says when its picture is not one sample but the mean of several.
    params = json.dumps({**ran, "estimate": "mean", "samples": settings.samples} if mean else ran, sort_keys=True)
    timesteps = int(ran.get("timesteps", settings.nfe))
    degraded = to_unit(result.degraded).cpu()
    methods = {name: to_unit(x).cpu() for name, x in result.methods.items()}
    scores = {name: {k: v.cpu() for k, v in s.items()} for name, s in scores.items()}
    extra = [to_unit(x).cpu() for x in result.extra]
    originals = None if result.original is None else to_unit(result.original).cpu()
    own = result.sample  # sample i of a batch at its own size
    bad_step = result.bad_step.cpu()
    main = result.main
    failed_rows = result.failed.cpu()  # restore_batch's verdict: non-finite at some step or at the end
    out = []
    for i in range(len(batch["id"])):
        record = _record(task, batch, i)
        record.restored_is_mean = mean
        failed = bool(failed_rows[i])
        note = "" if originals is None else _undefined_scores(*own(originals, i).shape[-2:], scores[main])
        for name, x in methods.items():
            outcome = MethodOutcome(name, {k: float(v[i]) for k, v in scores[name].items()}, message=note)
            if name == main:  # the baselines' cost is negligible and not measured
                outcome.seconds, outcome.params = result.seconds, params
            if name == main and not failed and i < len(result.warnings) and result.warnings[i]:
                outcome.status = "warning"
                outcome.message = "; ".join(filter(None, [result.warnings[i], note]))
            if name == main and failed:
                step = int(bad_step[i]) if int(bad_step[i]) >= 0 else timesteps - 1
                outcome.status = "error"
                outcome.message = (f"non-finite values (NaN/inf) at {_step_name(main)} step {step + 1}/{timesteps}; "
                                   "no image written")
                outcome.scores = {k: float("nan") for k in scores[name]}
            record.outcomes.append(outcome)
            if name == main and failed:
                continue
            record.images["restored" if name == main else name] = own(x, i)
        record.images["degraded"] = own(degraded, i)
        if originals is not None:
            record.images["original"] = own(originals, i)
        if not failed:
            record.samples = [own(x, i) for x in extra]
        out.append(record)
    return out


def _undefined_scores(height: int, width: int, names) -> str:
    """The note of scores that an image of this size has no value for ("" when every one has)."""
    why = {"ssim": ssim_undefined(height, width)}
    why.update({name: lpips_undefined(height, width) for name in names if name.startswith("lpips_")})
    nan = [name for name, reason in why.items() if reason]
    if not nan:
        return ""
    reasons = "; ".join(dict.fromkeys(why[name] for name in nan))
    return f"{', '.join(nan)} {'is' if len(nan) == 1 else 'are'} nan: {reasons}"


def failed(task: Task, batch: dict, i: int, message: str, method: str = "ddrm") -> Restoration:
    """The record of a sample that could not be restored at all (undecodable file, bad size)."""
    record = _record(task, batch, i)
    record.outcomes.append(MethodOutcome(method, status="error", message=message, seconds=0.0))
    return record


def _step_name(method: str) -> str:
    return "DDRM" if method == "ddrm" else method


def decoded_part(batch: dict) -> dict | None:
    """The batch restricted to the samples that decoded (no ``error``), or None when none did."""
    ok = [i for i, err in enumerate(batch["error"]) if not err]
    if not ok:
        return None
    index = torch.tensor(ok, device=batch["image"].device)
    return {k: (v.index_select(0, index) if isinstance(v, Tensor) else [v[i] for i in ok]) for k, v in batch.items()}
