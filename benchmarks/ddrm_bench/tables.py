"""Result files: one CSV per section (a row per configuration, re-measured rows replaced) and ``results.md``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

NETWORK_KEY = ("device", "threads", "config", "size", "batch", "steps", "operator", "precision", "compile",
               "channels_last")
KEYS = {
    "restore": NETWORK_KEY,
    "sweep": NETWORK_KEY,
    "operators": ("device", "threads", "operator", "batch", "size"),
    "noise": ("device", "threads", "batch", "dim"),
}
CONTEXT = ("device_name", "cpus", "torch", "date")
COLUMNS = {
    "restore": (*NETWORK_KEY, "status", "whole_s_per_image", "network_s_per_image", "overhead_pct",
                "overhead_cpu_pct", "in_situ_pct", "sampler_ms", "sampler_pct", "noise_pct",
                "forwards", "first_run_s", "peak_mem_mib", "peak_extra_mib", "peak_mem_kind", "repeats", *CONTEXT),
    "sweep": (*NETWORK_KEY, "status", "images", "sweep_img_per_s", "loop_img_per_s", "sweep_vs_loop_pct",
              "sweep_img_per_cpu_s", "loop_img_per_cpu_s", "sweep_vs_loop_cpu_pct", "sweep_in_situ_pct",
              "end_to_end_img_per_s", "sweep_wall_s", "first_batch_s", "metrics", *CONTEXT),
    "operators": ("device", "threads", "operator", "batch", "size", "status", "Vt_ms", "V_ms", "Ut_ms", "U_ms",
                  "max_ms", "forward_config", "forward_ms", "max_pct_of_forward", *CONTEXT),
    "noise": ("device", "threads", "batch", "dim", "status", "per_sample_ms", "one_generator_ms", "randn_ms",
              "step_ms", "share_of_step_pct", "step_from", *CONTEXT),
}


def csv_path(out_dir: Path, section: str) -> Path:
    return Path(out_dir) / f"{section}.csv"


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def upsert(out_dir: Path, section: str, rows: list[dict]) -> None:
    """Add ``rows`` to the section's CSV, replacing earlier rows of the same configuration."""
    if not rows:
        return
    path = csv_path(out_dir, section)
    key = KEYS[section]
    columns = list(COLUMNS[section])
    merged: dict[tuple, dict] = {}
    for row in read_rows(path) + [{k: _cell(v) for k, v in r.items()} for r in rows]:
        merged[tuple(str(row.get(k, "")) for k in key)] = row
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(merged.values())
    tmp.replace(path)


def _cell(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


# ------------------------------------------------------------------------------- markdown
def _num(value: str, digits: int = 3) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value or "")
    if math.isnan(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _verdict(row: dict, column: str, limit: float, at_most: bool) -> str:
    """Whether the row meets its target. On the CPU the CPU-time column (``<column>`` with ``_cpu``) decides
    when present: it does not count the time the process waited for a core on a shared machine."""
    if row.get("device", "").startswith("cpu"):
        cpu_column = column.replace("_pct", "_cpu_pct")
        if row.get(cpu_column, "") not in ("", None):
            column = cpu_column
    try:
        x = float(row.get(column, ""))
    except (TypeError, ValueError):
        return ""
    return "yes" if (x <= limit if at_most else x >= limit) else "**no**"


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def _status(row: dict) -> str:
    status = row.get("status", "ok")
    return "" if status == "ok" else status


# What a fast path is compared with: the same restoration in fp32, eager, contiguous.
FP32_EAGER = {"precision": "fp32", "compile": "off", "channels_last": "off"}


def _speedup(row: dict, rows: list[dict]) -> str:
    """The fp32 eager restoration time of the same configuration ÷ this row's, e.g. "2.18×"; "" without one."""
    same = [k for k in NETWORK_KEY if k not in FP32_EAGER]
    reference = [r for r in rows if all(r.get(k) == row.get(k) for k in same)
                 and all(r.get(k) == v for k, v in FP32_EAGER.items())]
    try:
        ratio = float(reference[0]["whole_s_per_image"]) / float(row["whole_s_per_image"])
    except (IndexError, KeyError, TypeError, ValueError, ZeroDivisionError):
        return ""
    return f"{ratio:.2f}×"


def _sorted(rows: list[dict], key: tuple) -> list[dict]:
    return sorted(rows, key=lambda r: tuple(str(r.get(k, "")) for k in key))


def markdown(out_dir: Path) -> str:
    """``results.md``: every section's rows as a table with the target check."""
    out_dir = Path(out_dir)
    parts = ["# ddrm-lightning benchmark results", "",
             "Generated by `benchmarks/run.py` from the CSV files of this folder (see docs/performance.md). "
             "Times are the fastest of the repeats. Both targets are judged in situ, within the same runs: the "
             "restoration's time outside its network calls, and the share of the sweep's work spent inside "
             "`ddrm` (CPU time on the CPU, wall time on CUDA). The replay and sweep/loop columns compare "
             "separately timed runs and carry the machine's noise.", ""]
    restore = _sorted(read_rows(csv_path(out_dir, "restore")), KEYS["restore"])
    if restore:
        parts += ["## Restoration: whole DDRM vs network forwards (target: overhead ≤ 5 %)", ""]
        header = ["device", "thr", "config", "size", "batch", "steps", "operator", "precision", "compile",
                  "ch-last", "s/img whole", "× fp32 eager", "s/img network", "overhead % replay (wall)", "overhead % replay (CPU)",
                  "overhead % in-situ", "≤ 5 %", "sampler alone %", "noise %", "peak MiB", "+MiB", "first run s", "note"]
        lines = [[r["device"], r["threads"], r["config"], r["size"], r["batch"], r["steps"], r["operator"],
                  r["precision"], r["compile"], r["channels_last"], _num(r["whole_s_per_image"], 4),
                  _speedup(r, restore), _num(r["network_s_per_image"], 4), _num(r["overhead_pct"], 2), _num(r.get("overhead_cpu_pct"), 2),
                  _num(r.get("in_situ_pct"), 2), _verdict(r, "in_situ_pct", 5.0, True), _num(r.get("sampler_pct"), 2), _num(r["noise_pct"], 2), _num(r["peak_mem_mib"], 4), _num(r.get("peak_extra_mib"), 3),
                  _num(r["first_run_s"]), _status(r)] for r in restore]
        parts += [_table(header, lines), ""]
    sweep = _sorted(read_rows(csv_path(out_dir, "sweep")), KEYS["sweep"])
    if sweep:
        parts += ["## Sweep: restore.py vs the restoration loop (target: sweep ≥ 90 % of the loop)", ""]
        header = ["device", "thr", "config", "size", "batch", "steps", "operator", "precision", "compile",
                  "ch-last", "images", "sweep img/s", "loop img/s", "sweep/loop % (wall)", "sweep/loop % (CPU time)",
                  "in-situ %", "≥ 90 %", "end-to-end img/s", "wall s", "note"]
        lines = [[r["device"], r["threads"], r["config"], r["size"], r["batch"], r["steps"], r["operator"],
                  r["precision"], r["compile"], r["channels_last"], r["images"], _num(r["sweep_img_per_s"], 4),
                  _num(r["loop_img_per_s"], 4), _num(r["sweep_vs_loop_pct"], 3),
                  _num(r.get("sweep_vs_loop_cpu_pct"), 3), _num(r.get("sweep_in_situ_pct"), 3),
                  _verdict(r, "sweep_in_situ_pct", 90.0, False), _num(r["end_to_end_img_per_s"], 4),
                  _num(r["sweep_wall_s"]), _status(r)] for r in sweep]
        parts += [_table(header, lines), ""]
    operators = _sorted(read_rows(csv_path(out_dir, "operators")), KEYS["operators"])
    if operators:
        parts += ["## Operator transforms vs one network forward at the same batch (target: each ≤ 2 %)", ""]
        header = ["device", "thr", "operator", "batch", "size", "forward of", "Vᵀ ms", "V ms", "Uᵀ ms", "U ms", "forward ms", "max % of forward",
                  "≤ 2 %", "note"]
        lines = [[r["device"], r["threads"], r["operator"], r["batch"], r["size"], r["forward_config"], _num(r["Vt_ms"]), _num(r["V_ms"]), _num(r["Ut_ms"]),
                  _num(r["U_ms"]), _num(r["forward_ms"], 4), _num(r["max_pct_of_forward"], 2),
                  _verdict(r, "max_pct_of_forward", 2.0, True), _status(r)] for r in operators]
        parts += [_table(header, lines), ""]
    noise = _sorted(read_rows(csv_path(out_dir, "noise")), KEYS["noise"])
    if noise:
        parts += ["## Per-sample noise of one batch (one draw; a restoration makes steps + 1 draws)", ""]
        header = ["device", "thr", "batch", "dim", "per-sample ms", "one generator ms", "randn ms", "step ms",
                  "% of a step", "step from", "note"]
        lines = [[r["device"], r["threads"], r["batch"], r["dim"], _num(r["per_sample_ms"]),
                  _num(r["one_generator_ms"]), _num(r["randn_ms"]), _num(r["step_ms"], 4),
                  _num(r["share_of_step_pct"], 2), r.get("step_from", ""), _status(r)] for r in noise]
        parts += [_table(header, lines), ""]
    hosts = {(r.get("device"), r.get("device_name"), r.get("cpus"), r.get("torch"))
             for rows in (restore, sweep, operators, noise) for r in rows}
    if hosts:
        parts += ["Measured on: " + "; ".join(f"{d} = {n} ({c} CPUs visible), torch {t}"
                                             for d, n, c, t in sorted(hosts, key=str)), ""]
    return "\n".join(parts)


def write_markdown(out_dir: Path) -> Path:
    path = Path(out_dir) / "results.md"
    path.write_text(markdown(out_dir))
    return path
