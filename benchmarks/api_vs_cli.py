"""The Python API against ``restore.py``: the same restoration at the same speed.

    OMP_NUM_THREADS=1 python benchmarks/api_vs_cli.py [--size 128] [--task sr4] [--repeats 3]

Measures, in process CPU time (the machine may be shared, so wall time would count other jobs):

* ``restore.py`` per image: the ``seconds`` column of its ``metrics.csv`` (the sampler's time per
  image, as the sweep records it) for the bundled astronaut at ``--size`` with the default settings;
* ``restore(x, task)`` with the defaults (precision ``auto``, channels-last) and with
  ``precision="fp32"``, the fastest of ``--repeats`` calls after one warm-up call.

Targets (issue #22): the API within 10 % of restore.py's per-image time; fp32 at least 1.8× slower.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_seconds(size: int, task: str, workdir: Path) -> float:
    """restore.py's recorded sampler seconds per image (metrics.csv's ``seconds``, its CPU-bound sampler time)."""
    out = workdir / "cli"
    command = [sys.executable, str(ROOT / "restore.py"), "--data.names", "astronaut", "--data.image_size", str(size),
               "--task", task, "--model.baselines", "[]", "--out_dir", str(out), "--report", "false"]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    with open(out / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == "ddrm"]
    return float(rows[0]["seconds"])


def api_seconds(image, task: str, repeats: int, **kwargs) -> float:
    """The fastest CPU time of ``repeats`` calls of ``restore`` (after one untimed call)."""
    from ddrm_lightning import load_prior, restore

    prior = load_prior("embedded")
    restore(image, task, prior=prior, **kwargs)
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        restore(image, task, prior=prior, **kwargs)
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--task", default="sr4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from skimage import data
    from PIL import Image

    from ddrm_lightning.data.geometry import center_crop

    image = center_crop(Image.fromarray(data.astronaut()), args.size)
    with tempfile.TemporaryDirectory() as workdir:
        cli = cli_seconds(args.size, args.task, Path(workdir))
    api = api_seconds(image, args.task, args.repeats)
    fp32 = api_seconds(image, args.task, args.repeats, precision="fp32", channels_last=False)
    print(f"restore.py sampler s/image (metrics.csv): {cli:.3f}")
    print(f"restore() default (auto, channels-last), CPU s: {api:.3f}  ({api / cli:.2f}× restore.py; target ≤ 1.10)")
    print(f"restore(precision='fp32'), CPU s: {fp32:.3f}  ({fp32 / api:.2f}× the default; target ≥ 1.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
