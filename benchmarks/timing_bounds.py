"""Wall-clock bounds that used to be asserted in tests (a shared CPU made them flaky), measured here.

    OMP_NUM_THREADS=1 python benchmarks/timing_bounds.py

* every operator's construction at 3×512×512 (spec: well under 1 s; bound 2 s), best of three;
* 20 updates of a sweep's metrics when every metric is unavailable (bound 0.5 s): an offline sweep
  must not pay for metrics it cannot compute.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

from ddrm_lightning.metrics.sweep import SweepMetrics
from ddrm_lightning.operators import build_operator

OPERATORS = ["deno", "sr4", "sr_bicubic4", "deblur_uni", "deblur_gauss", "deblur_aniso", "color", "cs4", "inp",
             "inp_box", "inp_text"]


def build_seconds(name: str, **params) -> float:
    build_operator(name, 3, 16, 16, **params)  # first-call library initialisation is not construction cost
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        build_operator(name, 3, 512, 512, **params)
        best = min(best, time.perf_counter() - start)
    return best


def unavailable_metrics_seconds() -> float:
    with tempfile.TemporaryDirectory() as empty:
        metrics = SweepMetrics(lpips=True, fid=True, kid=True, giqa=True, download=False,
                               inception_weights=Path(empty), lpips_weights=Path(empty))
        images = torch.rand(4, 3, 32, 32)
        start = time.perf_counter()
        for _ in range(20):
            metrics.update(images, images)
        return time.perf_counter() - start


def main() -> int:
    failed = 0
    for name, params in [*((n, {}) for n in OPERATORS), ("deblur_gauss", {"legacy": True})]:
        seconds = build_seconds(name, **params)
        ok = seconds < 2.0
        failed += not ok
        print(f"build {name}{' (legacy)' if params else ''} at 3×512²: {seconds:.3f} s {'ok' if ok else 'OVER 2 s'}")
    seconds = unavailable_metrics_seconds()
    failed += seconds >= 0.5
    print(f"20 updates with every metric unavailable: {seconds:.3f} s {'ok' if seconds < 0.5 else 'OVER 0.5 s'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
