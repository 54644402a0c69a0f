"""Sweep reports, comparison tables and step plots, on synthetic sweep folders in the per-task layout."""

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import restore_args, write_images
from PIL import Image

from ddrm_lightning.reports import (
    SweepTask,
    compare_sweeps,
    image_path,
    plot_psnr_vs_steps,
    sample_path,
    sample_paths,
    sweep_tasks,
    write_report,
)
from ddrm_lightning.reports.images import Grid, tile_captions, write_grid

IDS = ["a.png", "sub/b.jpg", "c.png"]
# name -> (operator, sigma_y, DDRM's PSNR); listed in config.yaml in this order
TASKS = {"sr4_sigma0.05": ("sr4", 0.05, 25.0), "deno_sigma0.1": ("deno", 0.1, 30.0)}
METRIC_COLUMNS = ["id", "task", "method", "source", "operator", "sigma_y", "seed", "psnr", "ssim", "consistency",
                  "lpips_alex", "seconds", "status", "message"]
SUMMARY_COLUMNS = ["task", "method", "metric", "mean", "std", "count", "note"]


KID_CONVENTION = "convention: torch-fidelity (8-bit images, TensorFlow-1 bilinear resize to 299 (no antialiasing))"


def _png(path: Path, value: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size, size, 3), value, dtype=np.uint8)
    array[: size // 2, : size // 2] = 255 - value  # some structure
    Image.fromarray(array).save(path)


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def make_sweep(root: Path, *, tasks: dict = TASKS, steps: int | None = 20, samples: int = 0, fail: str | None = None,
               baselines=("observed", "wiener"), shift: float = 0.0) -> Path:
    """A synthetic sweep folder as the writer lays it out: <task>/<kind>/<id>.png and the three tables.

    DDRM's PSNR per task is the TASKS value + ``shift``; ``fail`` makes that id's DDRM row an error.
    """
    root.mkdir(parents=True)
    metrics, summary = [], []
    for t, (name, (operator, sigma, psnr)) in enumerate(tasks.items()):
        task_dir = root / name
        for i, sample_id in enumerate(IDS):
            _png(image_path(task_dir, "original", sample_id), 100 + i)
            _png(image_path(task_dir, "degraded", sample_id), 50 + i, size=4 if operator == "sr4" else 16)
            if sample_id != fail:
                _png(image_path(task_dir, "restored", sample_id), 90 + i + t)
            for kind in baselines:
                _png(image_path(task_dir, kind, sample_id), 70 + i)
            for k in range(samples):
                _png(sample_path(task_dir, sample_id, k), 80 + 10 * k + i)
            for method in ("ddrm", *baselines):
                failed = method == "ddrm" and sample_id == fail
                metrics.append({"id": sample_id, "task": name, "method": method, "source": "synthetic",
                                "operator": operator, "sigma_y": sigma, "seed": "1", "psnr": "" if failed else psnr,
                                "ssim": "0.8", "consistency": "0.01", "lpips_alex": "0.2", "seconds": "1.5",
                                "status": "error" if failed else "ok", "message": "boom: NaN" if failed else ""})
        summary += [
            {"task": name, "method": "ddrm", "metric": "psnr", "mean": psnr + shift, "std": 1.25, "count": 3},
            {"task": name, "method": "ddrm", "metric": "ssim", "mean": 0.8123, "std": 0.01, "count": 3},
            {"task": name, "method": "ddrm", "metric": "lpips_alex", "mean": 0.2, "std": 0.05, "count": 3},
            {"task": name, "method": "ddrm", "metric": "kid", "mean": 0.0123, "std": 0.001, "count": 3,
             "note": KID_CONVENTION},
            {"task": name, "method": "ddrm", "metric": "seconds", "mean": 1.5, "std": 0.0, "count": 3},
            {"task": name, "method": "ddrm", "metric": "errors", "mean": 1 if fail else 0, "std": 0, "count": 3},
            {"task": name, "method": "ddrm", "metric": "fid", "note": "unavailable: Inception-v3 (FID) weights not found"},
        ]
        if "observed" in baselines:
            summary.append({"task": name, "method": "observed", "metric": "psnr", "mean": psnr - 5, "std": 2.0, "count": 3})
            summary.append({"task": name, "method": "observed", "metric": "seconds", "mean": 0.0, "std": 0.0, "count": 3})
            summary.append({"task": name, "method": "observed", "metric": "fid",
                            "note": "unavailable: Inception-v3 (FID) weights not found"})
        if "wiener" in baselines:
            summary += [
                {"task": name, "method": "wiener", "metric": "psnr", "mean": psnr - 2, "std": 1.0, "count": 3},
                {"task": name, "method": "wiener", "metric": "ssim", "mean": 0.85, "std": 0.02, "count": 3},
                {"task": name, "method": "wiener", "metric": "lpips_alex", "mean": 0.35, "std": 0.05, "count": 3},
            ]
    _write_csv(root / "metrics.csv", METRIC_COLUMNS, metrics)
    _write_csv(root / "summary.csv", SUMMARY_COLUMNS, summary)
    config = {"model": {"steps": steps, "eta": 0.85,
                        "tasks": [{"operator": op, "sigma_y": s, "params": {}, "name": None} for op, s, _ in tasks.values()]}}
    if steps is None:
        del config["model"]["steps"]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def make_flat_sweep(root: Path) -> Path:
    """A sweep written before tasks had folders: images in <kind>/, no task column."""
    root.mkdir(parents=True)
    for i, sample_id in enumerate(IDS):
        for kind, value in (("original", 100), ("degraded", 50), ("restored", 90)):
            _png(image_path(root, kind, sample_id), value + i)
    columns = [c for c in METRIC_COLUMNS if c != "task"]
    _write_csv(root / "metrics.csv", columns, [
        {"id": i, "method": "ddrm", "operator": "sr4", "sigma_y": "0.05", "psnr": 24, "status": "ok"} for i in IDS])
    _write_csv(root / "summary.csv", ["method", "metric", "mean", "std", "count", "note"],
               [{"method": "ddrm", "metric": "psnr", "mean": 24.0, "std": 0.5, "count": 3}])
    (root / "config.yaml").write_text(yaml.safe_dump({"model": {"timesteps": 10}}))
    return root


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_grid(task: SweepTask, grid_png: Path, ids: list[str], kinds: list[str], scratch: Path) -> Grid:
    """The report's grid is, pixel for pixel, the labelled grid of exactly these columns and rows; tiles unresampled."""
    expected = write_grid(task.folder, ids, scratch / f"{grid_png.stem}.png", kinds, tile_captions(task.rows))
    drawn = pixels(grid_png)
    assert drawn.shape == pixels(expected.path).shape and (drawn == pixels(expected.path)).all()
    for (kind, sample_id), (left, top, right, bottom) in expected.tiles.items():
        source = pixels(image_path(task.folder, kind, sample_id))
        if source.shape[:2] == (bottom - top, right - left):
            assert (drawn[top:bottom, left:right] == source).all()
    return expected


def test_file_conventions():
    root = Path("/x/sr4_sigma0.05")
    assert image_path(root, "restored", "sub/img.jpg") == root / "restored" / "sub" / "img.png"
    assert image_path(root, "wiener", "a.png") == root / "wiener" / "a.png"
    assert sample_path(root, "sub/img.jpg", 3) == root / "samples" / "sub" / "img_s3.png"
    assert sample_path(root, "noext", 0) == root / "samples" / "noext_s0.png"
    with pytest.raises(ValueError):
        image_path(root, "mask", "a.png")
    with pytest.raises(ValueError):
        image_path(root, "restored", "../escape.png")
    with pytest.raises(ValueError):
        sample_path(root, "a.png", -1)


def test_sample_paths_are_ordered_by_k(tmp_path):
    for k in (10, 2, 0, 1):
        _png(sample_path(tmp_path, "sub/x.png", k), 10)
    _png(tmp_path / "samples" / "sub" / "x_long_s0.png", 10)  # another image's samples
    assert [p.name for p in sample_paths(tmp_path, "sub/x.png")] == ["x_s0.png", "x_s1.png", "x_s2.png", "x_s10.png"]


def test_tasks_follow_the_config_order_and_flat_sweeps_are_one_task(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    tasks = sweep_tasks(out)
    assert [t.name for t in tasks] == ["sr4_sigma0.05", "deno_sigma0.1"]  # config order, not alphabetical
    assert tasks[0].folder == out / "sr4_sigma0.05" and tasks[0].label == "sr4 σ_y=0.05"
    assert {r["task"] for r in tasks[1].rows} == {"deno_sigma0.1"}
    flat = sweep_tasks(make_flat_sweep(tmp_path / "flat"))
    assert [(t.name, t.folder, t.label) for t in flat] == [("", tmp_path / "flat", "sr4 σ_y=0.05")]


def test_report_has_a_section_per_task_with_tables_and_grid(tmp_path):
    out = make_sweep(tmp_path / "sweep", fail="c.png")
    md_path, html_path = write_report(out, max_grid_samples=8)
    assert (md_path, html_path) == (out / "report.md", out / "report.html")
    md, page = md_path.read_text(), html_path.read_text()
    sr4, deno = md.index("## Task sr4_sigma0.05 (sr4 σ_y=0.05)"), md.index("## Task deno_sigma0.1 (deno σ_y=0.1)")
    assert sr4 < deno
    sr4_text, deno_text = md[sr4:deno], md[deno:]
    # summary per method, per task: mean ± std (n=count), errors as a count
    assert "| psnr | 25 ± 1.25 (n=3) | 20 ± 2 (n=3) | 23 ± 1 (n=3) |" in sr4_text
    assert "| psnr | 30 ± 1.25 (n=3) | 25 ± 2 (n=3) | 28 ± 1 (n=3) |" in deno_text
    assert "| errors | 1 of 3 |  |  |" in sr4_text
    # DDRM against the baselines: PSNR 25 − 23 = 2 (ddrm); SSIM 0.8123 − 0.85 (wiener); LPIPS lower is better
    assert "| psnr | wiener | 25 | 23 | 2 | ddrm |" in sr4_text
    assert "| psnr | observed | 30 | 25 | 5 | ddrm |" in deno_text
    assert "| ssim | wiener | 0.8123 | 0.85 | -0.0377 | wiener |" in sr4_text
    assert "| lpips_alex | wiener | 0.2 | 0.35 | -0.15 | ddrm |" in sr4_text
    assert "| seconds | observed" not in md  # baselines are not timed: no verdict
    # the overview lists every task × method
    assert "| sr4_sigma0.05 | observed | 20 |" in md and "| deno_sigma0.1 | wiener | 28 |" in md
    # ... with the timing and error count too (baselines are not timed)
    assert "| task | method | psnr | ssim | lpips_alex | kid | seconds | errors |" in md
    assert "| sr4_sigma0.05 | ddrm | 25 | 0.8123 | 0.2 | 0.0123 | 1.5 | 1 of 3 |" in md
    assert "| sr4_sigma0.05 | observed | 20 | n/a | n/a | n/a | not timed | n/a |" in md
    assert "| ground truth | yes |" in md
    # an unavailable metric is named once with its reason, and is not a row of n/a cells
    assert md.count("unavailable: Inception-v3 (FID) weights not found") == 1
    assert "| fid | unavailable: Inception-v3 (FID) weights not found |" in md and "| fid | n/a" not in md
    # how a computed set-level metric was computed is said once, under the overview; it is not a missing metric
    assert md.count(f"kid: {KID_CONVENTION}; compare only with numbers computed the same way") == 1
    assert "| kid |" not in md.split("Unavailable metrics")[1].split("## Task")[0]
    assert "| sr4_sigma0.05 | c.png | ddrm | boom: NaN |" in md and "| failed rows | 2 |" in md
    assert "| steps | 20 |" in md and "steps: 20" in md and "steps: 20" in page
    for task in sweep_tasks(out):
        grid = out / "grids" / f"{task.name}.png"
        assert f"](grids/{task.name}.png)" in md and f"src='grids/{task.name}.png'" in page
        # c.png failed in every task: two columns; rows original, degraded, restored, observed, wiener
        layout = assert_grid(task, grid, ["a.png", "sub/b.jpg"], ["original", "degraded", "restored", "observed",
                                                                   "wiener"], tmp_path / "expected")
        # each restored tile is captioned with its PSNR from metrics.csv
        assert layout.captions[("restored", "a.png")][0] == f"PSNR {TASKS[task.name][2]:.2f} dB"
    assert md.count("Rows: original, degraded, restored, observed, wiener. Columns: a.png, sub/b.jpg. ") == 2
    assert "Under each restored image its PSNR" in md and "### Photos" not in md  # photo table: measurement mode only
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "25 ± 1.25 (n=3)" in page
    assert "http" not in page  # self-contained: nothing fetched from elsewhere


def test_grid_rows_are_the_kinds_written(tmp_path):
    out = make_sweep(tmp_path / "sweep", baselines=("observed",))
    md = write_report(out)[0].read_text()
    sr4, deno = sweep_tasks(out)
    ids, kinds = ["a.png", "c.png", "sub/b.jpg"], ["original", "degraded", "restored", "observed"]
    assert_grid(deno, out / "grids" / "deno_sigma0.1.png", ids, kinds, tmp_path / "expected")
    assert "Rows: original, degraded, restored, observed. Columns: a.png, c.png, sub/b.jpg. " in md
    layout = assert_grid(sr4, out / "grids" / "sr4_sigma0.05.png", ids, kinds, tmp_path / "expected")
    left, top, right, bottom = layout.tiles[("degraded", "a.png")]
    # the 4×4 measurement is enlarged with nearest neighbour: a tile of 4×4 blocks of one value each
    tile = pixels(out / "grids" / "sr4_sigma0.05.png")[top:bottom, left:right, 0]
    assert tile.shape == (16, 16) and tile[0, 0] == 255 - 50 and tile[-1, -1] == 50 and len(np.unique(tile[:4, :4])) == 1
    assert layout.captions[("degraded", "a.png")][0] == "4×4 px (×4)"


def test_grid_sample_limit(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    md = write_report(out, max_grid_samples=1)[0].read_text()
    assert_grid(sweep_tasks(out)[0], out / "grids" / "sr4_sigma0.05.png", ["a.png"],
                ["original", "degraded", "restored", "observed", "wiener"], tmp_path / "expected")
    assert "Columns: a.png (the first 1 of 3 images)." in md
    with pytest.raises(ValueError):
        write_report(out, max_grid_samples=0)


def test_report_shows_the_sample_std_maps_per_task(tmp_path):
    out = make_sweep(tmp_path / "sweep", samples=3)
    md_path, html_path = write_report(out)
    md = md_path.read_text()
    assert md.count("### Sample diversity") == 2
    # samples of a.png are 80, 90, 100 (and 175, 165, 155 in one quadrant): std 10/255 per pixel
    row = next(line for line in md.splitlines() if line.startswith("| a |"))
    assert row.split("|")[2].strip() == "3"
    assert float(row.split("|")[3]) == pytest.approx(10 / 255, rel=1e-3)
    for task in TASKS:
        assert (out / "grids" / "std" / task / "a.png").is_file() and (out / "grids" / "std" / task / "sub" / "b.png").is_file()
    assert "grids/std/deno_sigma0.1/sub/b.png" in html_path.read_text()


def test_flat_sweeps_still_get_a_report(tmp_path):
    out = make_flat_sweep(tmp_path / "flat")
    md = write_report(out)[0].read_text()
    assert "## sr4 σ_y=0.05" in md and "| psnr | 24 ± 0.5 (n=3) |" in md
    assert_grid(sweep_tasks(out)[0], out / "grids" / "all.png", ["a.png", "c.png", "sub/b.jpg"],
                ["original", "degraded", "restored"], tmp_path / "expected")


def test_report_needs_a_summary(tmp_path):
    with pytest.raises(ValueError, match="summary.csv"):
        write_report(tmp_path)


def test_compare_sweeps_has_one_row_per_prior_and_task(tmp_path):
    first = make_sweep(tmp_path / "one")
    second = make_sweep(tmp_path / "two", shift=3.5)
    # post-hoc GIQA of the second sweep, as giqa_sweep writes it
    _write_csv(second / "giqa_summary.csv", ["task", "kind", "metric", "mean", "std", "count", "note", "reference"], [
        {"task": "sr4_sigma0.05", "kind": "restored", "metric": "giqa_knn_rel", "mean": 87.5, "std": 1, "count": 3,
         "reference": "originals"},
        {"task": "sr4_sigma0.05", "kind": "degraded", "metric": "giqa_knn_rel", "mean": 40.0, "std": 1, "count": 3,
         "reference": "originals"},
    ])
    csv_path, md_path = compare_sweeps([first, second], ["celeba", "ffhq"], tmp_path / "out" / "cmp",
                                       notes=["degraded inputs identical across priors: yes"])
    assert csv_path == tmp_path / "out" / "cmp.csv" and md_path.name == "cmp.md"
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["prior"], r["task"]) for r in rows] == [
        ("celeba", "sr4_sigma0.05"), ("celeba", "deno_sigma0.1"), ("ffhq", "sr4_sigma0.05"), ("ffhq", "deno_sigma0.1")]
    assert [float(r["psnr"]) for r in rows] == [25.0, 30.0, 28.5, 33.5]
    assert float(rows[0]["kid"]) == 0.0123 and rows[0]["fid"] == ""  # unavailable
    assert float(rows[2]["giqa_knn_rel"]) == 87.5 and rows[2]["giqa_source"] == "post hoc (originals)"
    assert rows[0]["giqa_knn_rel"] == "" and rows[3]["giqa_source"] == ""
    md = md_path.read_text()
    assert "| ffhq | sr4_sigma0.05 | 28.5 | 0.8123 | 0.2 | n/a | n/a | 0.0123 | n/a | n/a | n/a | 87.5 |" in md
    assert "* n/a fid: unavailable: Inception-v3 (FID) weights not found" in md and "n/a kid" not in md
    assert md.count(f"* kid: {KID_CONVENTION}; compare only with numbers computed the same way") == 1  # both sweeps
    assert "* degraded inputs identical across priors: yes" in md
    with pytest.raises(ValueError):
        compare_sweeps([first], ["a", "b"], tmp_path / "bad")


def test_plot_psnr_vs_steps(tmp_path):
    sweeps = [make_sweep(tmp_path / f"s{n}", steps=n, shift=n / 10) for n in (20, 10, 50)]
    out = plot_psnr_vs_steps([sweeps[0], sweeps[1] / "summary.csv", sweeps[2]], tmp_path / "plots" / "psnr.png")
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 100
    no_steps = make_sweep(tmp_path / "nosteps", steps=None)
    with pytest.raises(ValueError, match="model.steps"):
        plot_psnr_vs_steps([no_steps], tmp_path / "x.png")
    assert plot_psnr_vs_steps([no_steps], tmp_path / "y.png", steps=[100], labels=["ours"]).is_file()
    with pytest.raises(ValueError):
        plot_psnr_vs_steps([no_steps], tmp_path / "z.png", steps=[1, 2])
    with pytest.raises(ValueError, match="nope"):
        plot_psnr_vs_steps([no_steps], tmp_path / "z.png", metric="nope", steps=[1])


def test_plot_has_a_line_per_task_through_the_summary_means(tmp_path, monkeypatch):
    import matplotlib.axes

    seen = []
    original = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, *args, **kwargs):
        seen.append((list(x), list(y), kwargs.get("label")))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    sweeps = [make_sweep(tmp_path / f"s{n}", steps=n, shift=n / 10) for n in (20, 10)]
    plot_psnr_vs_steps(sweeps, tmp_path / "p.png")
    assert seen == [([10.0, 20.0], [26.0, 27.0], "sr4_sigma0.05"), ([10.0, 20.0], [31.0, 32.0], "deno_sigma0.1")]
    seen.clear()
    plot_psnr_vs_steps(sweeps, tmp_path / "q.png", labels=["celeba", "celeba"], tasks=["deno_sigma0.1"])
    assert seen == [([10.0, 20.0], [31.0, 32.0], "celeba: deno_sigma0.1")]


@pytest.mark.slow
def test_a_real_sweep_gets_a_report_with_a_grid_per_task(tiny_prior, tmp_path):
    from ddrm_lightning.cli import main

    write_images(tmp_path / "images", 2, size=(16, 16))
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, tmp_path / "images", out, "--report", "true", "--model.samples", "2")) == 0
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    tasks = sweep_tasks(out)
    assert len(tasks) == 3
    for task in tasks:
        assert f"## Task {task.name}" in md and f"<h2>Task {task.name}" in page
        assert_grid(task, out / "grids" / f"{task.name}.png", ["im0.png", "im1.png"],
                    ["original", "degraded", "restored", "observed", "wiener"], tmp_path / "expected")
        assert (out / "grids" / "std" / task.name / "im0.png").is_file()


def test_consistency_gets_no_verdict_against_a_baseline():
    """A faithful restoration matches y up to the noise (≈ σ₀); the observed baseline's 0 copies it."""
    from ddrm_lightning.reports.report import baseline_table

    summary = [{"task": "deno", "method": m, "metric": metric, "mean": value}
               for m, metric, value in [("ddrm", "consistency", 0.2), ("observed", "consistency", 0.0),
                                        ("ddrm", "psnr", 28.0), ("observed", "psnr", 20.0)]]
    verdicts = {row[0]: row[-1] for row in baseline_table(summary).rows}
    assert verdicts == {"psnr": "ddrm", "consistency": ""}
