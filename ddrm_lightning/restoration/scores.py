"""Per-image scores of a restored batch: consistency always; PSNR, SSIM and the sweep metrics with ground truth."""

from __future__ import annotations

import torch
from torch import Tensor

from ..metrics.image import psnr, ssim, ssim_undefined
from .core import RestoredBatch, crop_to
from .records import to_unit


def score_batch(result: RestoredBatch, sweep_metrics=None) -> dict[str, dict[str, Tensor]]:
    """method -> metric -> (B,) values.

    Each sample is scored at its own size (``RestoredBatch.sizes``), so its numbers do not depend on
    the batch it came in. ``sweep_metrics`` (a ``metrics.SweepMetrics``, or None) also takes every
    image for the sweep-level metrics (FID, KID) — except restorations that failed, which must not
    reach them.
    """
    scores = {name: {"consistency": value} for name, value in result.consistency.items()}
    if result.original is None:
        return scores
    for size, rows in result.size_groups():
        original = to_unit(crop_to(result.original.index_select(0, rows), size))
        for name, batch in result.methods.items():
            x = to_unit(crop_to(batch.index_select(0, rows), size))
            part = {"psnr": psnr(x, original), "ssim": _ssim_or_nan(x, original)}
            if sweep_metrics is not None:
                failed = result.failed.index_select(0, rows)
                keep = ~failed if name == result.main else torch.ones_like(failed)
                part.update(_sweep_update(sweep_metrics, name, x, original, keep))
            for metric, values in part.items():
                _scatter(scores[name], metric, rows, values, len(result.failed))
    return scores


def _scatter(scores: dict[str, Tensor], metric: str, rows: Tensor, values: Tensor, total: int) -> None:
    """Put one size group's values at its rows of the batch-long ``scores[metric]``."""
    if metric not in scores:
        scores[metric] = torch.full((total,), float("nan"), device=values.device, dtype=values.dtype)
    scores[metric] = scores[metric].index_copy(0, rows.to(values.device), values)


def _ssim_or_nan(x: Tensor, original: Tensor) -> Tensor:
    """SSIM per image, NaN where the images are too small for its window (``records.package`` notes why)."""
    if ssim_undefined(*x.shape[-2:]):
        return torch.full((x.shape[0],), float("nan"), device=x.device)
    return ssim(x, original)


def _sweep_update(metrics, method: str, x: Tensor, original: Tensor, keep: Tensor) -> dict[str, Tensor]:
    """Sweep metrics of the ``keep`` rows only; the other rows' per-image values are NaN."""
    if bool(keep.all()):
        return metrics.update(x, original, method=method)
    if not bool(keep.any()):
        return {name: torch.full((x.shape[0],), float("nan"), device=x.device) for name in metrics.per_image_names}
    index = keep.nonzero().squeeze(1)
    part = metrics.update(x.index_select(0, index), original.index_select(0, index), method=method)
    out = {}
    for name, values in part.items():
        full = torch.full((x.shape[0],), float("nan"), device=values.device, dtype=values.dtype)
        out[name] = full.index_copy(0, index.to(values.device), values)
    return out


def sweep_summary_rows(sweep_metrics: dict, methods: tuple[str, ...]) -> list[dict]:
    """Summary rows of the sweep-level metrics (FID, KID, …) per task and method; a metric that could
    not be computed becomes a row with its ``note``. Every rank must call ``compute`` (it synchronises)."""
    rows = []
    for task, metrics in sweep_metrics.items():
        for method in methods:
            values = metrics.compute(method)
            for name, value in values.items():
                if name.endswith("_std"):
                    continue
                row = {"task": task, "method": method, "metric": name, "mean": "", "std": "", "count": "", "note": ""}
                if isinstance(value, (int, float)):
                    # how the number was computed (the FID convention), for comparison with published tables
                    row.update(mean=float(value), std=values.get(f"{name}_std", ""), note=metrics.value_note(name))
                else:
                    row["note"] = str(value)
                rows.append(row)
        # How the GIQA fit had to adapt to a small reference set (fewer components, more regularisation).
        rows += [{"task": task, "method": methods[0], "metric": "giqa_fit", "mean": "", "std": "", "count": "", "note": note}
                 for note in getattr(metrics, "notes", {}).values()]
    return rows
