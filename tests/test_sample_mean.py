"""benchmarks/sample_mean.py: plans, the mean of the written samples and its table."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import load_benchmark


def _module():
    return load_benchmark("sample_mean")


def test_a_plan_is_samples_by_steps():
    module = _module()
    assert module.parse_plan("2x14") == (2, 14)
    assert module.parse_plan("1X25") == (1, 25)
    for bad in ("2", "0x10", "2x", "x3", "2x3x4", "ax2"):
        with pytest.raises(argparse.ArgumentTypeError, match="SAMPLESxSTEPS"):
            module.parse_plan(bad)


def _save(path: Path, value: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, dtype=np.uint8)).save(path)


def test_the_mean_of_two_samples_is_scored_not_the_first(tmp_path, monkeypatch):
    """Samples 100 and 140 around an original of 120: each is 20 levels off, their mean is exact-ish."""
    module, commands = _module(), []

    def fake_restore(args, out_dir):
        commands.append(args)
        samples = int(args[args.index("--model.samples") + 1])
        task = out_dir / "sr4"
        _save(task / "original" / "a.png", 120)
        _save(task / "observed" / "a.png", 110)
        _save(task / "restored" / "a.png", 100)
        for k, value in enumerate((100, 140, 120)[:samples] if samples > 1 else ()):
            _save(task / "samples" / f"a_s{k}.png", value)
        return [{"task": "sr4", "id": "a.png", "method": m, "status": "ok"} for m in ("ddrm", "observed")]

    monkeypatch.setattr(module, "run_restore", fake_restore)
    out = tmp_path / "table.md"
    module.main(["--plans", "1x25", "2x12", "--set", "demo", "--seeds", "0", "--markdown", str(out)])
    lines = out.read_text().splitlines()
    one_sample = 10 * math.log10(255**2 / 20**2)
    observed = 10 * math.log10(255**2 / 10**2)
    first, second = lines[2].split(" | "), lines[3].split(" | ")
    assert first[:3] == ["| 1x25", "25", "sr4"] and second[:3] == ["| 2x12", "24", "sr4"]
    assert float(first[3]) == pytest.approx(one_sample, abs=0.01)
    assert float(first[4].split(" / ")[0]) == pytest.approx(one_sample, abs=0.01)
    assert float(second[3]) == pytest.approx(one_sample, abs=0.01)  # the first sample alone
    assert second[4].startswith("inf") or float(second[4].split(" / ")[0]) > 60  # (100 + 140) / 2 == 120
    assert second[5].startswith(f"observed {observed:.2f}")
    assert [c[c.index("--model.samples") + 1] for c in commands] == ["1", "2"]
    assert [c[c.index("--model.steps") + 1] for c in commands] == ["25", "12"]
