"""The benchmark tables' speed-up column: fp32 eager of the same configuration ÷ the row's time."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from ddrm_bench.tables import _speedup  # noqa: E402


def _row(precision: str, channels_last: str, seconds: float, operator: str = "sr4") -> dict:
    return {"device": "cpu", "threads": "1", "config": "celeba_hq", "size": "256", "batch": "1", "steps": "2",
            "operator": operator, "precision": precision, "compile": "off", "channels_last": channels_last,
            "whole_s_per_image": str(seconds)}


def test_speedup_is_relative_to_fp32_eager_of_the_same_configuration():
    rows = [_row("fp32", "off", 8.0), _row("bf16", "on", 2.5), _row("fp32", "off", 4.0, operator="deno"),
            _row("bf16", "off", 4.0, operator="deno")]
    assert _speedup(rows[0], rows) == "1.00×"
    assert _speedup(rows[1], rows) == "3.20×"
    assert _speedup(rows[3], rows) == "1.00×"  # its own operator's fp32 row, not sr4's


def test_speedup_is_blank_without_a_reference():
    rows = [_row("bf16", "on", 2.5)]
    assert _speedup(rows[0], rows) == ""


def test_the_readmes_benchmark_commands_parse_and_one_is_quick():
    """The README's benchmark commands run as written (the quick one was timed in the README)."""
    from run import parse_args

    readme = " ".join((Path(__file__).resolve().parents[1] / "docs" / "performance.md").read_text().split())
    commands = re.findall(r"`(python benchmarks/run\.py [^`]*)`", readme)
    parsed = [parse_args(shlex.split(command)[2:]) for command in commands]
    assert len(parsed) >= 2
    assert any(len(args.operators) == 11 for args in parsed)  # the full table
    assert any(args.config == "cifar10" and args.operators == ["sr4"] and "operators" not in args.measure
               for args in parsed)  # the quick variant: no CelebA-HQ forwards


def _tiled(source: str, overlap: int, psnr: float, seam: float, cpu_seconds: float) -> dict:
    return {"source": source, "height": 64, "width": 128, "network": "tiled", "path": "fast", "overlap": overlap,
            "steps": 2, "psnr": psnr, "seam": seam, "seam_original": 1.0 if source == "a" else 0.5,
            "cpu_seconds": cpu_seconds}


def test_the_overlap_rule_takes_the_cheapest_overlap_within_the_mean_psnr_and_seam_bounds():
    from tiles_memory import overlap_rule

    rows = [_tiled("a", 16, 24.00, 1.01, 10.0), _tiled("b", 16, 26.00, 0.505, 10.0),
            _tiled("a", 8, 23.99, 1.02, 8.0), _tiled("b", 8, 25.98, 0.515, 8.0),  # mean −0.015 dB: within 0.02
            _tiled("a", 4, 24.00, 1.06, 6.0), _tiled("b", 4, 26.00, 0.51, 6.0)]  # a seam above 1.05
    summary = overlap_rule(rows)
    assert "overlap 8" in summary.splitlines()[-1]
    assert "| 4 | 2 | +0.000 | +0.000 | 1.060 |" in summary and summary.count("| no |") == 1
    rows[3]["psnr"] = 25.96  # mean −0.025 dB: only SIZE/4 is left
    assert "overlap 16" in overlap_rule(rows).splitlines()[-1]
    rows[4]["seam_original"] = 1.02  # the photo itself has that contrast there: no seam
    assert "overlap 4" in overlap_rule(rows).splitlines()[-1]


def test_a_large_photograph_is_resized_to_cover_and_centre_cropped(tmp_path):
    import numpy as np
    from PIL import Image
    from tiles_memory import photo

    ramp = np.tile((np.arange(300) * 255 // 299).astype(np.uint8)[None, :, None], (200, 1, 3))  # 200×300 ramp
    Image.fromarray(ramp).save(tmp_path / "wide.png")
    x = photo(100, 100, str(tmp_path / "wide.png"))
    assert x.shape == (1, 3, 100, 100) and -1 <= x.min() and x.max() <= 1
    # Resized to 100×150 (covering 100×100) then cropped to its middle 100 columns: no black border.
    assert float(x[0, 0, 50, 0]) > -0.9 and float(x[0, 0, 50, 0]) < float(x[0, 0, 50, 60])


def test_the_recipe_reference_keeps_the_resumed_runs_rows_and_compares_shared_steps(tmp_path):
    from recipe_reproduction import compare, read_reference, write_reference

    for version, rows in (("version_0", "0,24,0.5\n0,49,0.25\n0,74,0.2\n"), ("version_1", "1,74,0.1\n1,99,0.3\n")):
        (tmp_path / "logs" / version).mkdir(parents=True)
        (tmp_path / "logs" / version / "metrics.csv").write_text("epoch,step,train/loss\n" + rows)
    assert write_reference(tmp_path / "logs", tmp_path / "ref.csv", last_step=80) == 3
    reference = read_reference(tmp_path / "ref.csv")
    assert reference == {24: 0.5, 49: 0.25, 74: 0.1}  # the resumed run's step 74 replaces the first run's
    steps, largest, mean = compare({24: 0.5, 49: 0.3, 99: 1.0}, reference)
    assert steps == [24, 49] and abs(largest - 0.2) < 1e-12 and abs(mean - 0.1) < 1e-12
