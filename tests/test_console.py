"""What restore.py prints: the summary table at 80 columns, the failed files, the closing lines,
and the progress bar's counts and rate."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import restore_args, write_images
from rich.console import Console

from ddrm_lightning import sweep_io
from ddrm_lightning.callbacks import DDRMProgressBar
from ddrm_lightning.callbacks.progress import batch_counts, rate_text
from ddrm_lightning.reports.console import MAX_FAILURE_LINES, failures, print_summary
from ddrm_lightning.restoration import MethodOutcome
from ddrm_lightning.sweep_io import MetricsRow

PAPER_TASKS = ["sr4_sigma0.05", "sr_bicubic4_sigma0.05", "deblur_uni_sigma0.05", "deblur_gauss_sigma0.05",
               "deblur_aniso_sigma0.05", "inp_sigma0.05", "color_sigma0.05", "cs4_sigma0.05", "deno_sigma0.05"]
METHODS = ("ddrm", "observed", "wiener")
UNAVAILABLE = [{"task": "", "method": "", "metric": m, "mean": None, "std": None, "count": None,
                "note": "unavailable: weights not found in the torch hub cache"} for m in ("lpips_alex", "fid")]


def metric_rows(tasks, lpips: bool = False, images: int = 4) -> list[MetricsRow]:
    """metrics.csv rows with realistic, distinct values (and one failed image per task)."""
    rows = []
    for t, task in enumerate(tasks):
        for m, method in enumerate(METHODS):
            for i in range(images):
                row = {"id": f"im{i}.png", "task": task, "method": method, "status": "ok", "message": "",
                       "psnr": 18.0 + 3.1 * m + 0.7 * t + 1.93 * i, "ssim": 0.4 + 0.05 * m + 0.071 * i,
                       "consistency": 0.0123 + 0.031 * m + 0.0041 * i + 0.01 * t}
                if method == "ddrm":
                    row["seconds"] = 12.34 + i
                if lpips:
                    row["lpips_alex"], row["lpips_vgg"] = 0.21 + 0.01 * i, 0.3 + 0.02 * i
                rows.append(row)
        rows.append({"id": "broken.png", "task": task, "method": "ddrm", "status": "error", "source": "in/broken.png",
                     "message": "in/broken.png: ValueError: empty file (0 bytes)"})
    return typed(rows)


def typed(rows: list[dict]) -> list[MetricsRow]:
    """Rows as the sweep reads them back from metrics.csv (every cell text)."""
    return [MetricsRow.from_cells({k: str(v) for k, v in row.items()}) for row in rows]


def render(summary: list[dict], width: int = 80, **kwargs) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with console
    print_summary(summary, Path("out"), console, **kwargs)
    console.file.close()
    return console.export_text()


def cells(rows: list[dict], metric: str, decimals: int, with_std: bool) -> list[str]:
    """The table's text of ``metric`` for every (task, method), from the summary's own numbers."""
    out = []
    for row in sweep_io.summarize(rows):
        if row["metric"] == metric:
            mean, std = f"{row['mean']:.{decimals}f}", f"{row['std']:.{decimals}f}"
            out.append(f"{mean}±{std}" if with_std else mean)
    return out


def assert_fits(text: str, width: int = 80) -> None:
    assert "…" not in text
    table_lines = [line for line in text.splitlines() if not line.startswith("failed: ")]
    assert max(len(line) for line in table_lines) <= width


def test_the_paper_sweep_fits_80_columns_with_std(tmp_path):
    rows = metric_rows(PAPER_TASKS)
    text = render(sweep_io.summarize(rows, UNAVAILABLE), rows=rows)
    assert_fits(text)
    lines = text.splitlines()
    for task in PAPER_TASKS:  # each task once, whole, on its own line
        assert sum(task in line for line in lines) == 1, task
    assert sum(line.strip(" │").startswith("ddrm ") for line in lines) == len(PAPER_TASKS)  # one line per row
    for metric, decimals in (("psnr", 2), ("ssim", 3), ("consistency", 3)):
        for cell in cells(rows, metric, decimals, with_std=True):
            assert cell in text, (metric, cell)  # whole: no number wrapped
    assert "12.3±" not in text and "13.8" in text  # timings: 3 significant digits, no std
    assert "LPIPS" not in text and "errors" not in text  # unavailable: no column; failures listed below
    assert "lpips_alex, fid: unavailable: weights not found" in text


def test_more_columns_drop_the_std_rather_than_wrap():
    rows = metric_rows(PAPER_TASKS, lpips=True)
    text = render(sweep_io.summarize(rows), rows=rows)
    assert_fits(text)
    assert "LPIPS" in text and "alex" in text and "vgg" in text
    assert "±" not in text.replace("± std in summary.csv", "") and "± std in summary.csv" in text
    for task in PAPER_TASKS:  # the fallback made room: task names stay whole
        assert task in text, task
    for metric, decimals in (("psnr", 2), ("ssim", 3), ("lpips_vgg", 3)):
        for cell in cells(rows, metric, decimals, with_std=False):
            assert cell in text, (metric, cell)


def test_a_long_task_name_wraps_in_its_own_column_and_numbers_stay_whole():
    long_name = "deblur_gauss_with_a_very_long_custom_name_sigma0.05"
    rows = metric_rows([long_name, "deno_sigma0.1"])
    text = render(sweep_io.summarize(rows), rows=rows)
    assert_fits(text)
    assert long_name not in text  # folded over lines, not cut
    first_cells = [line.split("│")[1].strip() for line in text.splitlines() if line.count("│") > 2]
    assert long_name in "".join(first_cells)
    for cell in cells(rows, "psnr", 2, with_std=False):
        assert cell in text


def test_failed_files_are_listed_with_their_reason_and_counted():
    rows = metric_rows(["deno_sigma0.1", "sr4_sigma0.05"])
    # A sample that failed in one task only, for another reason, with markup-like brackets in its id.
    rows += typed([{"id": "[b]odd.png", "task": "deno_sigma0.1", "method": "ddrm", "status": "ok", "psnr": 20.0},
                   {"id": "[b]odd.png", "task": "sr4_sigma0.05", "method": "ddrm", "status": "error",
                    "source": "in/[b]odd.png",
                    "message": "non-finite values (NaN/inf) at DDRM step 2/3; no image written"}])
    text = render(sweep_io.summarize(rows), rows=rows)
    lines = text.splitlines()
    assert "failed: in/broken.png: ValueError: empty file (0 bytes)" in lines
    assert ("failed: in/[b]odd.png: (sr4_sigma0.05) non-finite values (NaN/inf) at DDRM step 2/3; no image written"
            in lines)
    assert "restored 4, failed 2 (see metrics.csv)" in lines
    assert lines[-1] == "Results in out: metrics.csv, summary.csv, <task>/restored/, report.md"


def test_many_failures_are_counted_beyond_the_listed_ones():
    rows = typed([{"id": f"bad{i:03d}.png", "task": "deno", "method": "ddrm", "status": "error",
                   "source": f"bad{i:03d}.png", "message": "empty file (0 bytes)"} for i in range(MAX_FAILURE_LINES + 7)])
    lines, restored, failed = failures(rows)
    assert (restored, failed) == (0, MAX_FAILURE_LINES + 7)
    assert lines[0] == "failed: bad000.png: empty file (0 bytes)"
    assert len(lines) == MAX_FAILURE_LINES + 1 and lines[-1] == "failed: … and 7 more (see metrics.csv)"


def test_results_line_lists_the_report_only_when_it_was_written():
    rows = metric_rows(["deno_sigma0.1"])
    text = render(sweep_io.summarize(rows), rows=rows, report=False)
    assert text.splitlines()[-1] == "Results in out: metrics.csv, summary.csv, <task>/restored/"


# ------------------------------------------------------------------------------ progress
def _result(sample_id: str, status: str) -> SimpleNamespace:
    return SimpleNamespace(id=sample_id, outcomes=[MethodOutcome("ddrm", status=status), MethodOutcome("wiener")])


def test_batch_counts_images_not_tasks():
    outputs = [_result("a", "ok"), _result("a", "ok"), _result("b", "ok"), _result("b", "error"), _result("c", "error")]
    assert batch_counts(outputs) == (1, 2)
    assert batch_counts([]) == (0, 0)


@pytest.mark.parametrize(("images", "seconds", "text"), [
    (10, 2.0, "5 img/s"), (3, 100.0, "33.3 s/img"), (1, 0.5, "2 img/s"), (0, 5.0, ""),
])
def test_rate_reads_in_images(images, seconds, text):
    assert rate_text(images, seconds) == text


def test_progress_bar_has_no_batch_rate_column():
    from lightning.pytorch.callbacks.progress.rich_progress import ProcessingSpeedColumn

    columns = DDRMProgressBar().configure_columns(None)
    assert columns and not any(isinstance(c, ProcessingSpeedColumn) for c in columns)


def test_a_folder_with_undecodable_files_names_them_on_the_console(tiny_prior, tmp_path, capsys):
    from ddrm_lightning.cli import main

    folder = tmp_path / "in"
    write_images(folder, 6)
    for name in ("a.png", "b.jpg", "c.png"):
        (folder / name).write_text("not an image")
    (folder / "d.png").write_bytes(b"")
    args = restore_args(tiny_prior, folder, tmp_path / "out", "--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]',
                        "--data.batch_size", "4")
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for name in ("a.png", "b.jpg", "c.png"):
        assert sum(line.startswith(f"failed: {folder / name}: UnidentifiedImageError") for line in lines) == 1, name
    assert sum(line.startswith(f"failed: {folder / 'd.png'}: ValueError: empty file (0 bytes)") for line in lines) == 1
    assert any(line.startswith("restored 6, failed 4") and line.endswith("(see metrics.csv)") for line in lines)
    assert "Restored 6, failed 4" in out  # the progress bar's last description
    assert "it/s" not in out


def test_set_level_metrics_get_a_line_with_their_convention():
    rows = metric_rows(PAPER_TASKS[:2])
    note = "convention: torch-fidelity (8-bit images, TensorFlow-1 bilinear resize to 299 (no antialiasing))"
    extra = [{"task": task, "method": method, "metric": metric, "mean": mean, "std": std, "count": "", "note": note}
             for task in PAPER_TASKS[:2] for method, mean, std in (("wiener", 80.1234, 0.0), ("ddrm", 41.2345, 0.0))
             for metric in ("fid",)]
    extra.append({"task": PAPER_TASKS[0], "method": "ddrm", "metric": "kid", "mean": 0.012345, "std": 0.00123,
                  "count": "", "note": note})
    text = render(sweep_io.summarize(rows, extra), rows=rows)
    assert_fits(text)
    for task in PAPER_TASKS[:2]:  # DDRM first, then the baselines
        assert f"FID [convention: torch-fidelity] {task}: ddrm 41.2, wiener 80.1" in text
    assert f"KID [convention: torch-fidelity] {PAPER_TASKS[0]}: ddrm 0.0123±0.00123" in text
    assert "unavailable" not in text and "full reasons" not in text  # a convention is not a missing metric


def test_long_unavailable_notes_take_one_line_each(tmp_path, monkeypatch):
    from ddrm_lightning.metrics.fetching import _missing
    from ddrm_lightning.metrics.weights import weight_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "a folder whose name is long enough to matter here"))
    notes = {key: str(_missing(weight_file(key), "cannot reach download.pytorch.org:443 (Name or service not known)"))
             for key in ("alexnet", "vgg16", "inception")}
    extra = [{"task": "", "method": "", "metric": metric, "mean": "", "std": "", "count": "", "note": notes[key]}
             for metric, key in (("lpips_alex", "alexnet"), ("lpips_vgg", "vgg16"), ("fid", "inception"),
                                 ("kid", "inception"))]
    rows = metric_rows(PAPER_TASKS[:1])
    lines = render(sweep_io.summarize(rows, extra), rows=rows).splitlines()
    noted = [line for line in lines if ": unavailable: " in line]
    assert [line.split(":")[0] for line in noted] == ["lpips_alex", "lpips_vgg", "fid, kid"]
    assert all(len(line) <= 80 and line.endswith("…") for line in noted)  # cut, not wrapped onto more lines
    following = lines[lines.index(noted[-1]) + 1]
    assert following == "(full reasons, with the files to place and where: summary.csv, report.md)"
