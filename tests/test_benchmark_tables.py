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

    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    commands = re.findall(r"`(python benchmarks/run\.py [^`]*)`", readme)
    parsed = [parse_args(shlex.split(command)[2:]) for command in commands]
    assert len(parsed) >= 2
    assert any(len(args.operators) == 11 for args in parsed)  # the full table
    assert any(args.config == "cifar10" and args.operators == ["sr4"] and "operators" not in args.measure
               for args in parsed)  # the quick variant: no CelebA-HQ forwards
