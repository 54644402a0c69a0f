"""Reading a sweep folder back: its tables, configuration, tasks and pictures.

Where each file lies is ``ddrm_lightning.sweep_io.layout``; this module only reads.
Sweeps written before tasks had folders keep the images directly in ``out_dir/<kind>/`` and
have no ``task`` column; they read as one task whose name is the empty string and whose
folder is ``out_dir`` itself. Every function taking a folder here takes a *task* folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image

from ..restoration.task import Task
from ..sweep_io.layout import CONFIG_YAML, IMAGE_KINDS, METRICS_CSV, SUMMARY_CSV
from ..sweep_io.tables import read_rows


def load_image(path: str | Path) -> torch.Tensor:
    """A PNG as an RGB float tensor (3, H, W) in [0, 1]."""
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def to_float(text: str | None) -> float | None:
    """A CSV cell as a number, None when empty or not a number."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def parse_summary_rows(rows: list[dict[str, str]]) -> list[dict]:
    """Summary CSV rows with ``mean``, ``std`` as floats (None when empty), ``count`` as int, ``task`` '' if absent."""
    out = []
    for row in rows:
        count = to_float(row.get("count"))
        out.append(
            {
                **{k: v for k, v in row.items() if k not in ("mean", "std", "count")},
                "task": row.get("task") or "",
                "method": row.get("method", ""),
                "metric": row.get("metric", ""),
                "mean": to_float(row.get("mean")),
                "std": to_float(row.get("std")),
                "count": None if count is None else int(count),
                "note": row.get("note") or "",
            }
        )
    return out


def read_summary(out_dir: str | Path) -> list[dict]:
    """summary.csv rows, parsed as by ``parse_summary_rows``."""
    path = Path(out_dir) / SUMMARY_CSV
    if not path.is_file():
        raise ValueError(f"{out_dir} has no summary.csv: not a finished sweep folder")
    return parse_summary_rows(read_rows(path))


def metrics_cells(out_dir: str | Path) -> list[dict[str, str]]:
    """A sweep folder's metrics.csv as text cells, whatever release wrote it (empty list when missing);
    ``sweep_io.read_metrics`` reads a table as the typed rows of this release."""
    return read_rows(Path(out_dir) / METRICS_CSV)


def read_config(out_dir: str | Path) -> dict:
    """config.yaml as a dict (empty when missing)."""
    path = Path(out_dir) / CONFIG_YAML
    if not path.is_file():
        return {}
    with open(path) as handle:
        loaded = yaml.safe_load(handle)
    return loaded if isinstance(loaded, dict) else {}


def config_value(config: dict, dotted: str):
    """``config['a']['b']`` for ``'a.b'``, None when any part is missing."""
    node = config
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def task_label(rows: list[dict[str, str]]) -> str:
    """'operator σ_y=…' of a task's metrics rows (several operators are joined with '+')."""
    operators = sorted({r.get("operator", "") for r in rows if r.get("operator")})
    sigmas = sorted({r.get("sigma_y", "") for r in rows if r.get("sigma_y") not in (None, "")})
    name = "+".join(operators) or "unknown task"
    return f"{name} σ_y={'/'.join(sigmas)}" if sigmas else name


@dataclass
class SweepTask:
    """One task of a sweep: its name ('' in a flat sweep), image folder, readable label and metrics rows."""

    name: str
    folder: Path
    label: str
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def title(self) -> str:
        """'<name> (<label>)', or the label alone in a flat sweep."""
        return f"{self.name} ({self.label})" if self.name and self.label != "unknown task" else self.name or self.label


def _configured_task_names(config: dict) -> list[str]:
    """Task names in the order config.yaml lists them (``name``, else ``<operator>_sigma<σ_y>``)."""
    names = []
    for task in config_value(config, "model.tasks") or []:
        if not isinstance(task, dict):
            continue
        if task.get("name"):
            names.append(str(task["name"]))
        elif task.get("operator") is not None:
            # The name the sweep gives an unnamed task (restoration.task.Task).
            try:
                names.append(Task(**{k: task[k] for k in ("operator", "sigma_y", "params") if k in task}).name)
            except (TypeError, ValueError):
                continue
    return names


def sweep_tasks(out_dir: str | Path, metrics_rows: list[dict] | None = None, summary: list[dict] | None = None) -> list[SweepTask]:
    """The tasks of a sweep folder, in config.yaml's order (then by name).

    Tasks come from the ``task`` column of metrics.csv and summary.csv; without one (a flat sweep)
    the sweep is one task named '' with its images in ``out_dir`` itself. Without any table,
    every sub-folder holding an ``original/`` or ``restored/`` folder is a task.
    """
    out_dir = Path(out_dir)
    metrics_rows = metrics_cells(out_dir) if metrics_rows is None else metrics_rows
    if summary is None:
        summary = read_summary(out_dir) if (out_dir / SUMMARY_CSV).is_file() else []
    has_column = any("task" in r for r in metrics_rows) or any(r.get("task") for r in summary)
    if (metrics_rows or summary) and not has_column:
        return [SweepTask("", out_dir, task_label(metrics_rows), list(metrics_rows))]
    found = {r.get("task", "") for r in metrics_rows} | {r.get("task", "") for r in summary}
    if not metrics_rows and not summary:
        found = {p.name for p in out_dir.iterdir() if p.is_dir() and any((p / k).is_dir() for k in IMAGE_KINDS)} if (
            out_dir.is_dir()
        ) else set()
        if not found and any((out_dir / k).is_dir() for k in IMAGE_KINDS):
            return [SweepTask("", out_dir, "unknown task")]
    found.discard("")
    order = {name: i for i, name in enumerate(_configured_task_names(read_config(out_dir)))}
    tasks = []
    for name in sorted(found, key=lambda n: (order.get(n, len(order)), n)):
        rows = [r for r in metrics_rows if r.get("task") == name]
        tasks.append(SweepTask(name, out_dir / name, task_label(rows) if rows else "unknown task", rows))
    return tasks
