"""A sweep's report: ``report.md`` and a self-contained ``report.html`` at the top of the sweep folder.

Sections: the run (tasks, steps, images), an overview of every task and method, metrics that
could not be computed and why, then per task a summary (metric × method), DDRM against each
baseline, a labelled image grid ``grids/<task>.png`` (rows original | degraded | restored, then
the baselines written; one column per image, each restored tile captioned with its PSNR; in
measurement mode, without ground truth, rows degraded | restored | baselines captioned with their
consistency, and a table linking each photo's images) and the per-pixel standard deviation of the
samples of each image when ``<task>/samples/`` exists (``grids/std/<task>/<id>.png``, one colour scale for
the whole report); failed samples; GIQA scored after the sweep (``giqa_summary.csv``, see
``giqa_sweep``) when present; the configuration.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import yaml

from ..sweep_io import atomic_write_text
from ..sweep_io.layout import MAIN_METHOD, WRITTEN_KINDS, image_path, is_restoration, method_title, sampled_ids
from .document import Code, Heading, Paragraph, Picture, Table, to_html, to_markdown
from .giqa_files import GIQA_SUMMARY, read_giqa_summary
from .images import (
    METHOD_KINDS,
    complete_ids,
    grid_kinds,
    has_ground_truth,
    safe_name,
    save_std_maps,
    std_maps,
    tile_captions,
    write_grid,
)
from .sweep_files import (
    SweepTask,
    config_value,
    read_config,
    metrics_cells,
    read_summary,
    sweep_tasks,
    to_float,
)
from .tables import HIGHER_IS_BETTER, LOWER_IS_BETTER, computed_notes, fmt, fmt_stat, metric_sort_key

# Columns of the overview: the metrics published tables report, then those a sweep without ground truth has too.
OVERVIEW_METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg", "fid", "kid", "giqa_gmm", "giqa_knn",
                    "giqa_gmm_rel", "giqa_knn_rel", "consistency", "seconds", "errors")
# Baselines are not timed (their rows say 0 s) and never fail: no verdict on these.
NOT_COMPARED = {"seconds", "errors"}


def _methods(summary: list[dict]) -> list[str]:
    """DDRM first, then the baselines in the order the summary lists them."""
    found = list(dict.fromkeys(r["method"] for r in summary))
    return sorted(found, key=lambda m: (not is_restoration(m), found.index(m)))


def _recorded_steps(row: dict) -> int | None:
    """The steps a restoration row's ``params`` (the method's settings as JSON) record."""
    try:
        return json.loads(row.get("params") or "{}").get("timesteps")
    except ValueError:
        return None


def _cell(row: dict | None) -> str:
    if row is None:
        return ""
    if row["mean"] is None:
        return "n/a"  # the reason is listed once under "Unavailable metrics"
    if row["metric"] == "errors":
        return f"{int(row['mean'])} of {row['count']}"
    return fmt_stat(row["mean"], row["std"], row["count"])


def summary_table(summary: list[dict]) -> Table:
    """One row per metric, one column per method: mean ± std (n)."""
    methods = _methods(summary)
    cells = {(r["method"], r["metric"]): r for r in summary}
    # Metrics no method could compute are listed once, with the reason, under "Unavailable metrics".
    metrics = sorted({r["metric"] for r in summary if r["mean"] is not None}, key=metric_sort_key)
    return Table(["metric", *methods], [[m, *(_cell(cells.get((method, m))) for method in methods)] for m in metrics])


def baseline_table(summary: list[dict]) -> Table:
    """DDRM's mean against each baseline's, their difference and which is better."""
    means = {(r["method"], r["metric"]): r["mean"] for r in summary}
    methods = _methods(summary)
    main = next((m for m in methods if is_restoration(m)), MAIN_METHOD)
    baselines = [m for m in methods if not is_restoration(m)]
    rows = []
    for metric in sorted({r["metric"] for r in summary} - NOT_COMPARED, key=metric_sort_key):
        ours = means.get((main, metric))
        for baseline in baselines:
            theirs = means.get((baseline, metric))
            if ours is None or theirs is None:
                continue
            delta = ours - theirs
            verdict = ""
            if metric in HIGHER_IS_BETTER or metric in LOWER_IS_BETTER:
                better = delta > 0 if metric in HIGHER_IS_BETTER else delta < 0
                verdict = main if better else (baseline if delta != 0 else "tie")
            rows.append([metric, baseline, fmt(ours), fmt(theirs), fmt(delta), verdict])
    return Table(["metric", "baseline", main, "baseline value", f"{main} − baseline", "better"], rows)


def _overview_cell(row: dict | None, method: str, metric: str) -> str:
    if metric == "seconds" and not is_restoration(method):
        return "not timed"
    if row is None or row["mean"] is None:
        return "n/a"
    if metric == "errors":
        return f"{int(row['mean'])} of {row['count']}"
    return fmt(row["mean"])


def overview_table(tasks: list[SweepTask], summary: list[dict]) -> Table:
    """Every task and method on one line: the means of the metrics that have any; errors as a count."""
    cells = {(r["task"], r["method"], r["metric"]): r for r in summary}
    metrics = [m for m in OVERVIEW_METRICS if any(r["metric"] == m and r["mean"] is not None for r in summary)]
    rows = []
    for task in tasks:
        for method in _methods([r for r in summary if r["task"] == task.name]):
            rows.append([task.name or task.label, method,
                         *(_overview_cell(cells.get((task.name, method, m)), method, m) for m in metrics)])
    return Table(["task", "method", *metrics], rows)


def photo_table(task: SweepTask, out_dir: Path, ids: list[str]) -> Table:
    """One row per photo: DDRM's consistency and each image written of it (degraded, restored, baselines)."""
    consistency = {r["id"]: to_float(r.get("consistency")) for r in task.rows
                   if is_restoration(r.get("method")) and (r.get("status") or "ok") in ("ok", "warning")}
    main = next((r["method"] for r in task.rows if r.get("method") and is_restoration(r["method"])), MAIN_METHOD)
    kinds = [k for k in WRITTEN_KINDS if any(image_path(task.folder, k, i).is_file() for i in ids)]
    names = {kind: next((m for m, k in METHOD_KINDS.items() if k == kind), kind) for kind in kinds}

    def cell(kind: str, sample_id: str):
        path = image_path(task.folder, kind, sample_id)
        if not path.is_file():
            return "not written"
        return Picture(path.relative_to(out_dir).as_posix(), f"{sample_id} {names[kind]}", 160)

    rows = [[i, fmt(consistency.get(i)) or "n/a", *(cell(k, i) for k in kinds)] for i in ids]
    return Table(["photo", f"{main} consistency", *(names[k] for k in kinds)], rows)


def unavailable_table(summary: list[dict]) -> Table:
    """Each reason once, with the metrics it stopped."""
    by_note: dict[str, list[str]] = defaultdict(list)
    for row in summary:
        if row["mean"] is None and row["note"] and row["metric"] not in by_note[row["note"]]:
            by_note[row["note"]].append(row["metric"])
    return Table(["metrics", "reason"], [[", ".join(sorted(m, key=metric_sort_key)), note] for note, m in by_note.items()])


def _grid_ids(task: SweepTask) -> list[str]:
    """DDRM's successful ids of the task, or every restored PNG when the sweep has no metrics rows."""
    if task.rows:
        ids = {r["id"] for r in task.rows if is_restoration(r.get("method"))
               and r.get("status", "ok") in ("ok", "warning") and r.get("id")}
    else:
        restored = task.folder / "restored"
        ids = {p.relative_to(restored).as_posix() for p in restored.rglob("*.png")} if restored.is_dir() else set()
    return sorted(ids)


def _giqa_table(rows: list[dict]) -> Table:
    metrics = ("giqa_gmm", "giqa_knn", "giqa_gmm_rel", "giqa_knn_rel")
    cells = {(r["task"], r["kind"], r["metric"]): r for r in rows}
    keys = list(dict.fromkeys((r["task"], r["kind"]) for r in rows))
    return Table(["task", "kind", *metrics], [[t or "all", k, *(_cell(cells.get((t, k, m))) for m in metrics)] for t, k in keys])


def write_report(out_dir: str | Path, *, max_grid_samples: int = 8) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (plus ``grids/``) into a sweep folder; return their paths."""
    out_dir = Path(out_dir)
    if int(max_grid_samples) < 1:
        raise ValueError(f"max_grid_samples must be at least 1, got {max_grid_samples}")
    summary = read_summary(out_dir)
    metrics_rows = metrics_cells(out_dir)
    config = read_config(out_dir)
    tasks = sweep_tasks(out_dir, metrics_rows, summary)
    ran = next((r for r in metrics_rows if r.get("method") and is_restoration(r["method"])), {})
    method = ran.get("method") or MAIN_METHOD

    grids, used_names = {}, set()
    for task in tasks:
        complete = complete_ids(task.folder, _grid_ids(task))
        shown = complete[: int(max_grid_samples)]
        if not shown:
            continue
        name = safe_name(task.name)
        while name in used_names:  # two task names that differ only in unsafe characters
            name += "_"
        used_names.add(name)
        kinds = grid_kinds(task.folder, shown)
        grid = write_grid(task.folder, shown, out_dir / "grids" / f"{name}.png", kinds, tile_captions(task.rows),
                          method=method)
        grids[task.name] = {"path": grid.path.relative_to(out_dir).as_posix(), "shown": shown, "kinds": kinds,
                            "name": name, "complete": complete}

    # One colour scale for every std map of the report, so maps of different tasks compare.
    maps = {t.name: std_maps(t.folder, sampled_ids(t.folder)[: int(max_grid_samples)]) for t in tasks}
    vmax = max((float(m.max()) for per_task in maps.values() for _, m in per_task.values()), default=0.0) or 1e-8
    std_rows = {}
    for task in tasks:
        if maps[task.name]:
            folder = out_dir / "grids" / "std" / (grids[task.name]["name"] if task.name in grids else safe_name(task.name))
            std_rows[task.name] = save_std_maps(maps[task.name], folder, vmax)

    failures = [r for r in metrics_rows if r.get("status") == "error"]
    doubtful = [r for r in metrics_rows if r.get("status") == "warning"]
    recorded = config_value(config, "data.measured")
    measurement = bool(recorded) if recorded is not None else bool(tasks) and not any(has_ground_truth(t.folder) for t in tasks)
    blocks = [Heading(1, "Sweep report"), Table(["", ""], [
        ["folder", str(out_dir)],
        ["ground truth", "none: measurement mode, the inputs are the degraded images" if measurement else "yes"],
        ["tasks", ", ".join(t.title for t in tasks) or "none"],
        ["method", method_title(method)],
        ["steps", str(config_value(config, "model.steps") or _recorded_steps(ran) or "not recorded")],
        ["images", str(len({r.get("id") for r in metrics_rows}))],
        ["failed rows", str(len(failures))],
        ["rows with a warning", str(len(doubtful))],
    ])]
    blocks += [Heading(2, "Overview"), Paragraph("Mean of each metric per task and method."), overview_table(tasks, summary)]
    blocks += [Paragraph(line) for line in computed_notes(summary)]
    unavailable = unavailable_table(summary)
    if unavailable.rows:
        blocks += [Heading(2, "Unavailable metrics"), unavailable]

    for task in tasks:
        task_summary = [r for r in summary if r["task"] == task.name]
        blocks += [Heading(2, f"Task {task.title}" if task.name else task.title)]
        blocks += [Heading(3, "Summary per method"), summary_table(task_summary)]
        baselines = baseline_table(task_summary)
        blocks += [Heading(3, f"{method_title(method)} against the baselines")]
        blocks += [baselines if baselines.rows else Paragraph("No baseline to compare with.")]
        if task.name in grids:
            grid = grids[task.name]
            shown, kinds, complete = grid["shown"], grid["kinds"], grid["complete"]
            measured = "its consistency ‖Hx̂ − y‖/√m" if not has_ground_truth(task.folder) else "its PSNR"
            first = f" (the first {len(shown)} of {len(complete)} images)" if len(shown) < len(complete) else ""
            blocks += [Heading(3, "Images"), Picture(grid["path"], task.name or "all", full_size=True),
                       Paragraph(f"Rows: {', '.join(kinds)}. Columns: {', '.join(shown)}{first}. Under each restored "
                                 f"image {measured}; under an enlarged one its own size.")]
            if not has_ground_truth(task.folder):
                # Without ground truth the photos are the user's own: every one is listed, linked at full size.
                blocks += [Heading(3, "Photos"), photo_table(task, out_dir, complete)]
        if task.name in std_rows:
            blocks += [Heading(3, "Sample diversity"), Paragraph(
                "Per-pixel standard deviation over the samples of each image (mean over RGB; colour scale 0 to "
                f"{fmt(vmax)}, shared by every map of this report).")]
            blocks += [Table(["id", "samples", "mean per-pixel std", "map"], [
                [r["id"], str(r["samples"]), fmt(r["mean_std"]), Picture(r["path"].relative_to(out_dir).as_posix(), r["id"], 128)]
                for r in std_rows[task.name]
            ])]

    if failures:
        blocks += [Heading(2, "Failed samples"), Table(["task", "id", "method", "message"], [
            [r.get("task", ""), r.get("id", ""), r.get("method", ""), r.get("message", "")] for r in failures])]
    if doubtful:
        blocks += [Heading(2, "Warnings"), Paragraph(
            "Restored, but the picture does not explain its measurement (docs/troubleshooting.md): its numbers "
            "count in the tables above."), Table(["task", "id", "method", "message"], [
            [r.get("task", ""), r.get("id", ""), r.get("method", ""), r.get("message", "")] for r in doubtful])]
    giqa_rows, reference = read_giqa_summary(out_dir)
    if giqa_rows:
        blocks += [Heading(2, "GIQA after the sweep"), Paragraph(
            f"From {GIQA_SUMMARY} (reference: {reference or 'not recorded'}). Relative scores are % of the image's "
            "original's score; originals are 100 %.")]
        blocks += [_giqa_table(giqa_rows)]
    if config:
        blocks += [Heading(2, "Configuration"), Code(yaml.safe_dump(config, sort_keys=False), "yaml")]

    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md_path, to_markdown(blocks))
    atomic_write_text(html_path, to_html("Sweep report", blocks))
    return md_path, html_path
