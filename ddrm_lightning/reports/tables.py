"""Number formatting and metric order shared by the report and the comparison."""

from __future__ import annotations

from collections import defaultdict

# Which way is better, for the metrics a sweep reports (others get no verdict). Consistency gets none:
# a faithful restoration matches y only up to the noise (‖Hx̂ − y‖/√m ≈ σ₀), and 0 means it copied the noise.
HIGHER_IS_BETTER = {"psnr", "ssim", "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel"}
LOWER_IS_BETTER = {"lpips_alex", "lpips_vgg", "fid", "kid", "seconds", "errors"}
METRIC_ORDER = (
    "psnr", "ssim", "lpips_alex", "lpips_vgg", "fid", "kid", "kid_std",
    "giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel", "consistency", "seconds", "errors",
)


def metric_sort_key(name: str) -> tuple[int, str]:
    return (METRIC_ORDER.index(name), name) if name in METRIC_ORDER else (len(METRIC_ORDER), name)


def fmt(value: float | None) -> str:
    """A number with 4 significant digits; '' for None."""
    return "" if value is None else f"{value:.4g}"


def fmt_stat(mean: float | None, std: float | None, count: int | None, note: str = "") -> str:
    """'mean ± std (n=count)', or the note when there is no mean."""
    if mean is None:
        return note or "n/a"
    text = fmt(mean)
    if std is not None:
        text += f" ± {fmt(std)}"
    if count is not None:
        text += f" (n={count})"
    return text


def computed_notes(summary: list[dict]) -> list[str]:
    """How computed numbers were computed, each once with its metrics (the FID convention of fid, kid)."""
    by_note: dict[str, list[str]] = defaultdict(list)
    for row in summary:
        if row["mean"] is not None and row["note"] and row["metric"] not in by_note[row["note"]]:
            by_note[row["note"]].append(row["metric"])
    return [f"{', '.join(sorted(m, key=metric_sort_key))}: {note}; compare only with numbers computed the same way "
            "(docs/metrics.md)." for note, m in by_note.items()]
