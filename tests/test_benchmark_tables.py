"""The benchmark tables' speed-up column: fp32 eager of the same configuration ÷ the row's time."""

from __future__ import annotations

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
