"""Summaries, CSV and Markdown of the fast-path sweeps (precision_quality.py, groupnorm_precision.py)."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

# A fast path may become a default when its mean PSNR change stays within this (README, issue "[speed]").
PSNR_TOLERANCE_DB = 0.1


def _calls(rows: list[dict]) -> dict[tuple, dict]:
    """One entry per restoration call: (path, set, task, seed) -> its seconds per image and paired speed-up."""
    return {(r["path"], r["set"], r["task"], r["seed"]): r for r in rows}


def summarize(rows: list[dict], paths: list[str]) -> tuple[list[dict], list[dict]]:
    """(quality rows per path × task × set, incl. set "both"; speed rows per path)."""
    quality = []
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    sets = list(dict.fromkeys(r["set"] for r in rows))
    for path in paths:
        for task in [*tasks, "all"]:
            for set_name in [*sets, "both"]:
                sel = [r for r in rows if r["path"] == path and task in (r["task"], "all")
                       and set_name in (r["set"], "both")]
                if not sel:
                    continue
                quality.append({
                    "path": path, "task": task, "set": set_name, "images": len(sel),
                    "psnr": statistics.fmean(r["psnr"] for r in sel), "ssim": statistics.fmean(r["ssim"] for r in sel),
                    "d_psnr": statistics.fmean(r["d_psnr"] for r in sel),
                    "abs_d_psnr": statistics.fmean(abs(r["d_psnr"]) for r in sel),
                    "max_abs_d_psnr": max(abs(r["d_psnr"]) for r in sel),
                    "d_ssim": statistics.fmean(r["d_ssim"] for r in sel),
                })
    calls = _calls(rows)
    speed = []
    for path in paths:
        mine = [c for k, c in calls.items() if k[0] == path]
        if mine:
            seconds = statistics.fmean(c["seconds_per_image"] for c in mine)
            speed.append({"path": path, "calls": len(mine), "seconds_per_image": seconds,
                          "median_seconds_per_image": statistics.median(c["seconds_per_image"] for c in mine),
                          "speedup_median_paired": statistics.median(c["speedup"] for c in mine)})
    reference = speed[0]["seconds_per_image"]
    for s in speed:
        s["speedup_means"] = reference / s["seconds_per_image"]
        s["speedup_medians"] = speed[0]["median_seconds_per_image"] / s["median_seconds_per_image"]
    return quality, speed


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
        writer.writeheader()
        writer.writerows(rows)


def _q(quality: list[dict], path: str, task: str, set_name: str) -> dict | None:
    return next((q for q in quality if (q["path"], q["task"], q["set"]) == (path, task, set_name)), None)


def quality_table(quality: list[dict], paths: list[str], sets: list[str]) -> list[str]:
    """Markdown: per path and task, the mean PSNR/SSIM change from the reference (the first path)."""
    tasks = list(dict.fromkeys(q["task"] for q in quality))
    head = (["path", "task"] + [f"ΔPSNR {s} (dB)" for s in sets]
            + ["ΔPSNR both (dB)", "mean \\|ΔPSNR\\| (dB)", "max \\|ΔPSNR\\| one image (dB)", "ΔSSIM both",
               f"\\|ΔPSNR\\| ≤ {PSNR_TOLERANCE_DB} dB"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for path in paths[1:]:
        for task in tasks:
            both = _q(quality, path, task, "both")
            if both is None:
                continue
            cells = [path, task] + [f"{_q(quality, path, task, s)['d_psnr']:+.4f}" for s in sets]
            cells += [f"{both['d_psnr']:+.4f}", f"{both['abs_d_psnr']:.4f}", f"{both['max_abs_d_psnr']:.3f}",
                      f"{both['d_ssim']:+.5f}", "yes" if abs(both["d_psnr"]) <= PSNR_TOLERANCE_DB else "**no**"]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def reference_table(quality: list[dict], reference: str, sets: list[str]) -> list[str]:
    """Markdown: the reference path's own mean PSNR / SSIM per task and set."""
    tasks = [t for t in dict.fromkeys(q["task"] for q in quality) if t != "all"]
    head = ["task"] + [f"{reference} PSNR {s} (dB)" for s in sets] + [f"SSIM {s}" for s in sets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in tasks:
        cells = [task] + [f"{_q(quality, reference, task, s)['psnr']:.2f}" for s in sets]
        cells += [f"{_q(quality, reference, task, s)['ssim']:.3f}" for s in sets]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def speed_table(speed: list[dict], notes: dict[str, str]) -> list[str]:
    """Markdown: seconds per image and speed-up per path. The medians over a path's calls come first:
    on a shared machine a few calls stretch several-fold while another job runs, which moves means."""
    head = ["path", "s/img (median)", "speed-up vs fp32 (medians)", "speed-up vs fp32 (median of paired calls)",
            "s/img (mean)", "speed-up (means)", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    reference = speed[0]["median_seconds_per_image"]
    for s in speed:
        lines.append(f"| {s['path']} | {s['median_seconds_per_image']:.3f} | "
                     f"**{reference / s['median_seconds_per_image']:.2f}×** | {s['speedup_median_paired']:.2f}× | "
                     f"{s['seconds_per_image']:.3f} | {s['speedup_means']:.2f}× | {notes.get(s['path'], '')} |")
    return lines
