"""A sweep's report: ``report.md`` and a self-contained ``report.html`` in the sweep folder.

Sections: run (task, steps, sample counts), summary per method, DDRM against each baseline,
failed samples, an original | degraded | restored grid per operator (``grids/<operator>.png``),
the per-pixel standard deviation of the samples of each image when ``samples/`` exists
(``grids/std/<id>.png``, one colour scale for all), and the configuration.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

import yaml

from .images import complete_ids, safe_name, write_grid, write_std_maps
from .sweep_files import config_value, read_config, read_metrics, read_summary, sampled_ids, task_name
from .tables import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    fmt,
    fmt_stat,
    html_table,
    markdown_table,
    metric_sort_key,
)

MAIN_METHOD = "ddrm"


def _summary_table(summary: list[dict]) -> tuple[list[str], list[list[str]]]:
    methods = list(dict.fromkeys(r["method"] for r in summary))
    cells = {(r["method"], r["metric"]): r for r in summary}
    metrics = sorted({r["metric"] for r in summary}, key=metric_sort_key)
    rows = []
    for metric in metrics:
        row = [metric]
        for method in methods:
            r = cells.get((method, metric))
            row.append("" if r is None else fmt_stat(r["mean"], r["std"], r["count"], r["note"]))
        rows.append(row)
    return ["metric", *methods], rows


def _baseline_table(summary: list[dict]) -> tuple[list[str], list[list[str]]]:
    means = {(r["method"], r["metric"]): r["mean"] for r in summary}
    baselines = [m for m in dict.fromkeys(r["method"] for r in summary) if m != MAIN_METHOD]
    rows = []
    for metric in sorted({r["metric"] for r in summary}, key=metric_sort_key):
        ours = means.get((MAIN_METHOD, metric))
        for baseline in baselines:
            theirs = means.get((baseline, metric))
            if ours is None or theirs is None:
                continue
            delta = ours - theirs
            verdict = ""
            if metric in HIGHER_IS_BETTER or metric in LOWER_IS_BETTER:
                better = delta > 0 if metric in HIGHER_IS_BETTER else delta < 0
                verdict = "ddrm" if better else (baseline if delta != 0 else "tie")
            rows.append([metric, baseline, fmt(ours), fmt(theirs), fmt(delta), verdict])
    return ["metric", "baseline", MAIN_METHOD, "baseline value", "ddrm − baseline", "better"], rows


def _grid_groups(out_dir: Path, metrics_rows: list[dict]) -> dict[str, list[str]]:
    """Sample ids per operator, from DDRM's successful rows (or every restored PNG when there is no CSV)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for row in metrics_rows:
        if row.get("method", MAIN_METHOD) == MAIN_METHOD and row.get("status", "ok") == "ok" and row.get("id"):
            groups[row.get("operator") or "all"].append(row["id"])
    if not metrics_rows:
        restored = out_dir / "restored"
        groups["all"] = [p.relative_to(restored).as_posix() for p in restored.rglob("*.png")] if restored.is_dir() else []
    return {op: sorted(set(ids)) for op, ids in sorted(groups.items())}


def write_report(out_dir: str | Path, *, max_grid_samples: int = 8) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` (plus ``grids/``) into a sweep folder; return their paths."""
    out_dir = Path(out_dir)
    if int(max_grid_samples) < 1:
        raise ValueError(f"max_grid_samples must be at least 1, got {max_grid_samples}")
    summary = read_summary(out_dir)
    metrics_rows = read_metrics(out_dir)
    config = read_config(out_dir)

    grids = []
    for operator, ids in _grid_groups(out_dir, metrics_rows).items():
        shown = complete_ids(out_dir, ids)[: int(max_grid_samples)]
        if shown:
            path = write_grid(out_dir, shown, out_dir / "grids" / f"{safe_name(operator)}.png")
            grids.append((operator, path.relative_to(out_dir).as_posix(), shown))
    stems = sampled_ids(out_dir)[: int(max_grid_samples)] if (out_dir / "samples").is_dir() else []
    std_rows, vmax = write_std_maps(out_dir, stems, out_dir / "grids" / "std") if stems else ([], 0.0)

    failures = [r for r in metrics_rows if r.get("status") == "error"]
    facts = [
        ("folder", str(out_dir)),
        ("task", task_name(metrics_rows) if metrics_rows else "unknown"),
        ("steps", str(config_value(config, "model.timesteps") or "not recorded")),
        ("samples", str(len({r.get("id") for r in metrics_rows}))),
        ("failed rows", str(len(failures))),
    ]
    sections = {
        "summary": _summary_table(summary),
        "baselines": _baseline_table(summary),
        "failures": (["id", "method", "message"], [[r.get("id", ""), r.get("method", ""), r.get("message", "")] for r in failures]),
        "std": (
            ["id", "samples", "mean per-pixel std", "map"],
            [[r["id"], str(r["samples"]), fmt(r["mean_std"]), r["path"].relative_to(out_dir).as_posix()] for r in std_rows],
        ),
    }
    config_text = yaml.safe_dump(config, sort_keys=False) if config else ""
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_markdown(facts, sections, grids, vmax, config_text))
    html_path.write_text(_html(facts, sections, grids, vmax, config_text))
    return md_path, html_path


def _markdown(facts, sections, grids, vmax, config_text) -> str:
    parts = ["# Sweep report", "", markdown_table(["", ""], [list(f) for f in facts]), ""]
    parts += ["## Summary per method", "", markdown_table(*sections["summary"]), ""]
    parts += ["## DDRM against the baselines", ""]
    parts += [markdown_table(*sections["baselines"]) if sections["baselines"][1] else "No baseline to compare with.", ""]
    if sections["failures"][1]:
        parts += ["## Failed samples", "", markdown_table(*sections["failures"]), ""]
    parts += ["## Images", "", "Rows: original, degraded, restored.", ""]
    for operator, path, ids in grids:
        parts += [f"### {operator}", "", f"![{operator}]({path})", "", "Columns: " + ", ".join(ids), ""]
    if sections["std"][1]:
        parts += ["## Sample diversity", "", f"Per-pixel standard deviation over the samples of each image "
                  f"(mean over RGB; colour scale 0 to {fmt(vmax)}).", ""]
        rows = [[i, n, s, f"![{i}]({p})"] for i, n, s, p in sections["std"][1]]
        parts += [markdown_table(sections["std"][0], rows), ""]
    if config_text:
        parts += ["## Configuration", "", "```yaml", config_text.rstrip(), "```", ""]
    return "\n".join(parts)


_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 1200px; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f2f2f2; }
img { max-width: 100%; image-rendering: pixelated; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
"""


def _html(facts, sections, grids, vmax, config_text) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Sweep report</title><style>{_STYLE}</style></head><body>"]
    parts += ["<h1>Sweep report</h1>", html_table(["", ""], [list(f) for f in facts])]
    parts += ["<h2>Summary per method</h2>", html_table(*sections["summary"])]
    parts += ["<h2>DDRM against the baselines</h2>"]
    parts += [html_table(*sections["baselines"]) if sections["baselines"][1] else "<p>No baseline to compare with.</p>"]
    if sections["failures"][1]:
        parts += ["<h2>Failed samples</h2>", html_table(*sections["failures"])]
    parts += ["<h2>Images</h2>", "<p>Rows: original, degraded, restored.</p>"]
    for operator, path, ids in grids:
        parts += [f"<h3>{e(operator)}</h3>", f"<img src='{e(path)}' alt='{e(operator)}'>", f"<p>Columns: {e(', '.join(ids))}</p>"]
    if sections["std"][1]:
        parts += ["<h2>Sample diversity</h2>", f"<p>Per-pixel standard deviation over the samples of each image "
                  f"(mean over RGB; colour scale 0 to {e(fmt(vmax))}).</p>"]
        rows = "".join(
            f"<tr><td>{e(i)}</td><td>{e(n)}</td><td>{e(s)}</td><td><img src='{e(p)}' alt='{e(i)}' width='128'></td></tr>"
            for i, n, s, p in sections["std"][1]
        )
        head = "".join(f"<th>{e(h)}</th>" for h in sections["std"][0])
        parts += [f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"]
    if config_text:
        parts += ["<h2>Configuration</h2>", f"<pre>{e(config_text)}</pre>"]
    parts += ["</body></html>"]
    return "\n".join(parts)
