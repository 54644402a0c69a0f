"""A metric (PSNR by default) against the number of sampling steps, over several sweeps, one line per task."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..sweep_io import atomic_path  # noqa: E402
from ..sweep_io.layout import MAIN_METHOD  # noqa: E402
from .sweep_files import config_value, read_config, read_summary, sweep_tasks  # noqa: E402


def _sweep_dir(item: str | Path) -> Path:
    """A sweep folder, or the folder of a summary.csv given directly."""
    path = Path(item)
    if path.is_dir():
        return path
    if path.is_file() and path.suffix == ".csv":
        return path.parent
    raise ValueError(f"{path} is neither a sweep folder nor a summary CSV")


def plot_psnr_vs_steps(
    dirs_or_csvs: Sequence[str | Path],
    out_png: str | Path,
    *,
    steps: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    tasks: Sequence[str] | None = None,
    method: str = MAIN_METHOD,
    metric: str = "psnr",
) -> Path:
    """Plot ``method``'s mean ``metric`` (± std) against the step count; one line per (label, task).

    The step count of each sweep is ``model.steps`` in its config.yaml unless ``steps`` gives
    them. A line is named after the task, prefixed by the sweep's label when ``labels`` are given
    ('<label>: <task>'); points of the same name are joined in order of steps. ``tasks`` keeps only
    the named tasks.
    """
    if len(dirs_or_csvs) == 0:
        raise ValueError("need at least one sweep folder or summary CSV")
    for name, given in (("steps", steps), ("labels", labels)):
        if given is not None and len(given) != len(dirs_or_csvs):
            raise ValueError(f"{name} must have one entry per sweep ({len(dirs_or_csvs)}), got {len(given)}")
    wanted = None if tasks is None else set(tasks)
    lines: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for i, item in enumerate(dirs_or_csvs):
        folder = _sweep_dir(item)
        n_steps = steps[i] if steps is not None else config_value(read_config(folder), "model.steps")
        if n_steps is None:
            raise ValueError(f"{folder}/config.yaml has no model.steps: pass steps explicitly")
        summary = read_summary(folder)
        points = 0
        for task in sweep_tasks(folder, summary=summary):
            if wanted is not None and task.name not in wanted:
                continue
            row = next((r for r in summary if (r["task"], r["method"], r["metric"]) == (task.name, method, metric)), None)
            if row is None or row["mean"] is None:
                continue
            name = task.name or task.label
            if labels is not None:
                name = f"{labels[i]}: {name}" if task.name else labels[i]
            lines[name].append((float(n_steps), row["mean"], row["std"] or 0.0))
            points += 1
        if points == 0:
            which = f" for tasks {', '.join(sorted(wanted))}" if wanted is not None else ""
            raise ValueError(f"{folder}/summary.csv has no {metric} mean for method {method}{which}")

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, points in lines.items():
        points.sort()
        x, y, err = zip(*points)
        axes.errorbar(x, y, yerr=err, marker="o", capsize=3, label=name)
    axes.set_xlabel("sampling steps")
    axes.set_ylabel(f"{metric.upper() if metric == 'psnr' else metric}" + (" (dB)" if metric == "psnr" else ""))
    axes.set_title(f"{method}: {metric} vs steps")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, dpi=120, format="png")
    plt.close(figure)
    return out_png
