"""The methods experiment: one degraded set restored by several methods at several step budgets, one table.

    python -m ddrm_lightning.experiments.methods --config configs/methods/<name>.yaml [restore.py arguments]

Every entry (label, method, timesteps, params) gets one restore.py sweep in ``<out_dir>/<label>/``,
run in this process by ``sweep.run_sweep`` from the experiment's restore.py settings with the entry's
``model.method``, ``model.steps``, ``model.method_params`` and ``out_dir`` set on the configuration
(``experiments.sweeps``). Prior, data, tasks and seeds are shared, so every entry restores the same y
(checked afterwards on the degraded PNGs, pixel for pixel). Then ``<out_dir>/comparison.csv`` /
``comparison.md`` hold task × entry → PSNR, SSIM, LPIPS, consistency, seconds per image and NFE
(``methods_table``), and ``<out_dir>/grids/<task>.png`` show a row per sample and a column per
entry beside the original and degraded image (``methods_grid``). A sweep that already finished is
resumed, not redone (restore.py skips restored images).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..reports.images import safe_name
from ..reports.sweep_files import metrics_cells, sweep_tasks
from ..sweep_io.layout import is_restoration
from .methods_config import MethodEntry, MethodExperiment, load_method_experiment
from .methods_grid import MethodGrid, write_method_grid
from .methods_table import ComparisonRow, write_comparison
from .same_inputs import degraded_mismatches
from .sweeps import exit_status, run_entry, shared_words, write_record

GRID_DIR = "grids"


@dataclass
class MethodsResult:
    sweeps: dict[str, Path]  # label -> sweep folder
    table_csv: Path
    table_md: Path
    rows: list[ComparisonRow] = field(default_factory=list)
    grids: dict[str, MethodGrid] = field(default_factory=dict)  # task -> its picture
    mismatches: list[str] = field(default_factory=list)  # degraded images that differ between entries
    restored: dict[str, int] = field(default_factory=dict)  # label -> images its sweep has restored
    wall_seconds: dict[str, float] = field(default_factory=dict)  # label -> this run's time in its sweep


def _entry(experiment: MethodExperiment, label: str) -> MethodEntry:
    entry = next((e for e in experiment.entries if e.label == label), None)
    if entry is None:
        raise ValueError(f"unknown method label '{label}'; known: {', '.join(e.label for e in experiment.entries)}")
    return entry


def entry_settings(experiment: MethodExperiment, label: str) -> dict:
    """What an entry sets on the shared configuration: its method, steps, settings and folder."""
    entry = _entry(experiment, label)
    # method_params always set, even {}: a restore config's own would otherwise leak into every entry.
    return {"model.method": entry.method, "model.steps": entry.timesteps,
            "model.method_params": dict(entry.params), "out_dir": str(experiment.out_dir / entry.label)}


def _grid_ids(sweep: Path, task: str, limit: int) -> list[str]:
    """The first ``limit`` sample ids of a task that the sweep degraded (sorted, as metrics.csv lists them)."""
    ids = sorted({r["id"] for r in metrics_cells(sweep) if r.get("task") == task and is_restoration(r.get("method"))})
    return ids[:limit]


def write_grids(experiment: MethodExperiment, sweeps: dict[str, Path]) -> dict[str, MethodGrid]:
    """One grid per task of the first sweep that has rows (in ``<out_dir>/grids/<task>.png``)."""
    grids = {}
    source = next((s for s in sweeps.values() if metrics_cells(s)), None)
    if source is None:
        return grids
    for task in sweep_tasks(source):
        ids = _grid_ids(source, task.name, experiment.grid_samples)
        if ids:
            target = experiment.out_dir / GRID_DIR / f"{safe_name(task.name)}.png"
            grids[task.name] = write_method_grid(task.name, ids, list(sweeps.items()), target)
    return grids


def run_method_experiment(experiment: MethodExperiment, *, extra_args: Sequence[str] = ()) -> MethodsResult:
    """Run every entry's sweep, check the inputs matched, write the comparison table and the grids.

    Raises ValueError (naming the entry) when an entry's settings are refused.
    """
    out_dir = experiment.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = shared_words(out_dir, experiment.restore_configs, experiment.restore, experiment.restore_args, extra_args)
    sweeps, restored, walls = {}, {}, {}
    for entry in experiment.entries:
        print(f"[methods] {entry.label}: {entry.method}, {entry.timesteps} steps, {entry.params or 'published settings'}",
              flush=True)
        start = time.perf_counter()
        result = run_entry([*shared, *entry.args], entry_settings(experiment, entry.label),
                           name=f"method entry '{entry.label}'")
        walls[entry.label] = time.perf_counter() - start
        sweeps[entry.label], restored[entry.label] = result.out_dir, len(result.restored)
        if not result.restored:
            print(f"[methods] {entry.label}: restored no image; its row shows what failed", flush=True)

    mismatches = degraded_mismatches(sweeps)
    same = "yes" if not mismatches else f"NO — {len(mismatches)} differ, e.g. {mismatches[0]}"
    notes = [f"degraded inputs identical across entries (pixel for pixel): {same}",
             ("NFE = network evaluations = timesteps; ΠGDM and DPS also take one backward pass through the "
              "network per step"),
             "sweep wall time of this run: " + ", ".join(f"{label} {s:.0f} s" for label, s in walls.items())]
    entries = {e.label: e for e in experiment.entries}
    csv_path, md_path, rows = write_comparison([(entries[label], folder) for label, folder in sweeps.items()],
                                               out_dir / "comparison", notes)
    grids = write_grids(experiment, sweeps)
    _write_record(experiment, extra_args, restored, walls, mismatches)
    if mismatches:
        print(f"[methods] warning: the entries did not see the same degraded images ({same})", flush=True)
    print(f"[methods] comparison: {md_path}", flush=True)
    for task, grid in grids.items():
        print(f"[methods] grid of {task}: {grid.path}", flush=True)
    return MethodsResult(sweeps, csv_path, md_path, rows, grids, mismatches, restored, walls)


def _write_record(experiment: MethodExperiment, extra_args, restored: dict[str, int], walls: dict[str, float],
                  mismatches: list[str]) -> None:
    record = {
        "methods": [{"label": e.label, "method": e.method, "timesteps": e.timesteps, "params": dict(e.params),
                     "args": list(e.args), "restored": restored.get(e.label),
                     "wall_seconds": None if e.label not in walls else round(walls[e.label], 1)}
                    for e in experiment.entries],
        "restore_config": [str(c) for c in experiment.restore_configs],
        "restore": experiment.restore,
        "restore_args": list(experiment.restore_args) + list(extra_args),
        "degraded_mismatches": mismatches,
    }
    write_record(experiment.out_dir, record)


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when every entry restored images, 1 when one restored none or a write failed,
    2 for a bad setting, 128 + the signal number when interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m ddrm_lightning.experiments.methods", allow_abbrev=False,
        description="Restore one degraded set with several methods and step budgets and compare them. "
                    "Arguments not listed here are passed to every restore.py sweep (e.g. --data.root DIR).",
    )
    parser.add_argument("--config", required=True, help="experiment file, e.g. configs/methods/embedded_demo.yaml")
    parser.add_argument("--out_dir", default=None, help="replaces the file's out_dir")
    args, restore_args = parser.parse_known_args(argv)
    return exit_status("methods", lambda: run_method_experiment(
        load_method_experiment(args.config, out_dir=args.out_dir), extra_args=restore_args).restored)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
