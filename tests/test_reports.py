import csv
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from ddrm_lightning.reports import compare_sweeps, image_path, plot_psnr_vs_steps, sample_path, sample_paths, write_report

IDS = ["a.png", "sub/b.jpg", "c.png"]
METRIC_COLUMNS = ["id", "method", "source", "operator", "sigma_y", "seed", "psnr", "ssim", "consistency",
                  "seconds", "status", "message", "lpips_alex"]


def _png(path: Path, value: int, size: int = 16) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.full((size, size, 3), value, dtype=np.uint8)
    array[: size // 2, : size // 2] = 255 - value  # some structure
    Image.fromarray(array).save(path)


def make_sweep(root: Path, *, psnr: float = 25.0, steps: int | None = 20, operator: str = "sr4",
               samples: int = 0, fail: str | None = None) -> Path:
    """A synthetic sweep folder laid out as the sweep writes it."""
    root.mkdir(parents=True)
    for i, sample_id in enumerate(IDS):
        _png(image_path(root, "original", sample_id), 100 + i)
        _png(image_path(root, "degraded", sample_id), 50 + i, size=4)  # a low-resolution measurement
        if sample_id != fail:
            _png(image_path(root, "restored", sample_id), 90 + i)
        for k in range(samples):
            _png(sample_path(root, sample_id, k), 80 + 10 * k + i)
    with open(root / "metrics.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        for sample_id in IDS:
            for method in ("ddrm", "observed", "wiener"):
                failed = method == "ddrm" and sample_id == fail
                writer.writerow({"id": sample_id, "method": method, "source": "synthetic", "operator": operator,
                                 "sigma_y": "0.05", "seed": "1", "psnr": "" if failed else psnr,
                                 "ssim": "0.8", "consistency": "0.01", "seconds": "1.5",
                                 "status": "error" if failed else "ok", "message": "boom: NaN" if failed else "",
                                 "lpips_alex": "0.2"})
    summary = [
        ("ddrm", "psnr", psnr, 1.25, 3, ""),
        ("observed", "psnr", psnr - 5, 2.0, 3, ""),
        ("wiener", "psnr", psnr - 2, 1.0, 3, ""),
        ("ddrm", "ssim", 0.8123, 0.01, 3, ""),
        ("wiener", "ssim", 0.85, 0.02, 3, ""),
        ("ddrm", "lpips_alex", 0.2, 0.05, 3, ""),
        ("wiener", "lpips_alex", 0.35, 0.05, 3, ""),
        ("ddrm", "kid", 0.0123, 0.001, 3, ""),
        ("ddrm", "fid", "", "", "", "unavailable: Inception-v3 (FID) weights not found"),
        ("ddrm", "giqa_gmm", -12.5, 3.0, 3, ""),
    ]
    with open(root / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "metric", "mean", "std", "count", "note"])
        writer.writerows(summary)
    config = {"model": {"timesteps": steps, "eta": 0.85}, "data": {"operator": operator}}
    if steps is None:
        del config["model"]["timesteps"]
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return root


def test_file_conventions():
    root = Path("/x")
    assert image_path(root, "restored", "sub/img.jpg") == root / "restored" / "sub" / "img.png"
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


def test_report_has_tables_grids_and_failures(tmp_path):
    out = make_sweep(tmp_path / "sweep", fail="c.png")
    md_path, html_path = write_report(out, max_grid_samples=8)
    md, page = md_path.read_text(), html_path.read_text()
    # summary per method: mean ± std (n)
    assert "25 ± 1.25 (n=3)" in md and "20 ± 2 (n=3)" in md and "0.8123 ± 0.01 (n=3)" in md
    assert "unavailable: Inception-v3 (FID) weights not found" in md
    # baselines: ddrm − wiener PSNR = 2, better = ddrm; SSIM 0.8123 − 0.85 = -0.0377, better = wiener
    assert "| psnr | wiener | 25 | 23 | 2 | ddrm |" in md
    assert "| ssim | wiener | 0.8123 | 0.85 | -0.0377 | wiener |" in md
    assert "| lpips_alex | wiener | 0.2 | 0.35 | -0.15 | ddrm |" in md
    assert "boom: NaN" in md and "| failed rows | 1 |" in md
    assert "| steps | 20 |" in md and "sr4 σ_y=0.05" in md
    grid = out / "grids" / "sr4.png"
    assert grid.is_file() and "](grids/sr4.png)" in md and "src='grids/sr4.png'" in page
    with Image.open(grid) as image:
        # two complete samples (c failed): 2 columns, 3 rows of 16-pixel tiles with 2-pixel padding
        assert image.size == (2 * 18 + 2, 3 * 18 + 2)
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page and "25 ± 1.25 (n=3)" in page
    assert "timesteps: 20" in md and "timesteps: 20" in page


def test_grid_sample_limit(tmp_path):
    out = make_sweep(tmp_path / "sweep")
    write_report(out, max_grid_samples=1)
    with Image.open(out / "grids" / "sr4.png") as image:
        assert image.size == (18 + 2, 3 * 18 + 2)
    with pytest.raises(ValueError):
        write_report(out, max_grid_samples=0)


def test_report_shows_the_sample_std_maps(tmp_path):
    out = make_sweep(tmp_path / "sweep", samples=3)
    md_path, html_path = write_report(out)
    md = md_path.read_text()
    assert "## Sample diversity" in md
    # samples of a.png are 80, 90, 100 (and 175, 165, 155 in one quadrant): std 10/255 per pixel
    expected = 10 / 255
    row = next(line for line in md.splitlines() if line.startswith("| a |"))
    assert row.split("|")[2].strip() == "3"
    assert float(row.split("|")[3]) == pytest.approx(expected, rel=1e-3)
    assert (out / "grids" / "std" / "a.png").is_file() and (out / "grids" / "std" / "sub" / "b.png").is_file()
    assert "grids/std/sub/b.png" in html_path.read_text()


def test_report_needs_a_summary(tmp_path):
    with pytest.raises(ValueError):
        write_report(tmp_path)


def test_compare_sweeps_tables(tmp_path):
    first = make_sweep(tmp_path / "one", psnr=25.0, operator="sr4")
    second = make_sweep(tmp_path / "two", psnr=28.5, operator="deblur_gauss")
    csv_path, md_path = compare_sweeps([first, second], ["celeba", "ffhq"], tmp_path / "out" / "cmp")
    assert csv_path == tmp_path / "out" / "cmp.csv" and md_path.name == "cmp.md"
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["prior"] for r in rows] == ["celeba", "ffhq"]
    assert rows[0]["task"] == "sr4 σ_y=0.05" and rows[1]["task"] == "deblur_gauss σ_y=0.05"
    assert float(rows[1]["psnr"]) == 28.5 and float(rows[0]["kid"]) == 0.0123
    assert rows[0]["fid"] == ""  # unavailable
    md = md_path.read_text()
    assert "| ffhq | deblur_gauss σ_y=0.05 | 28.5 | 0.8123 | 0.2 | n/a | n/a | 0.0123 | -12.5 | n/a |" in md
    with pytest.raises(ValueError):
        compare_sweeps([first], ["a", "b"], tmp_path / "bad")


def test_plot_psnr_vs_steps(tmp_path):
    sweeps = [make_sweep(tmp_path / f"s{n}", psnr=20 + n / 10, steps=n) for n in (20, 10, 50)]
    out = plot_psnr_vs_steps([sweeps[0], sweeps[1] / "summary.csv", sweeps[2]], tmp_path / "plots" / "psnr.png")
    assert out.is_file()
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 100
    no_steps = make_sweep(tmp_path / "nosteps", steps=None)
    with pytest.raises(ValueError):
        plot_psnr_vs_steps([no_steps], tmp_path / "x.png")
    explicit = plot_psnr_vs_steps([no_steps], tmp_path / "y.png", steps=[100], labels=["ours"])
    assert explicit.is_file()
    with pytest.raises(ValueError):
        plot_psnr_vs_steps([no_steps], tmp_path / "z.png", steps=[1, 2])
    with pytest.raises(ValueError):
        plot_psnr_vs_steps([no_steps], tmp_path / "z.png", metric="nope", steps=[1])


def test_plot_points_are_the_summary_means(tmp_path, monkeypatch):
    import matplotlib.axes

    seen = []
    original = matplotlib.axes.Axes.errorbar

    def spy(self, x, y, *args, **kwargs):
        seen.append((list(x), list(y), kwargs.get("label")))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", spy)
    sweeps = [make_sweep(tmp_path / f"s{n}", psnr=20 + n / 10, steps=n) for n in (20, 10)]
    plot_psnr_vs_steps(sweeps, tmp_path / "p.png")
    assert seen == [([10.0, 20.0], [21.0, 22.0], "sr4 σ_y=0.05")]
