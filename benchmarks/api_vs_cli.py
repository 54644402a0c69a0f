"""The Python API against ``restore.py``: the same restoration at the same speed.

    OMP_NUM_THREADS=1 python benchmarks/api_vs_cli.py [--size 128] [--task sr4] [--repeats 3]

Both run in this process and both restore through ``restoration.restore_batch``; each call of it is
timed in process CPU time (the machine may be shared: wall time would count other jobs), per image:

* ``restore.py`` (``cli.main``) on the bundled astronaut, centre-cropped to ``--size``, one task,
  its defaults otherwise (precision ``auto``, channels-last): every batch's sampler time;
* ``restore(x, task)`` on the same crop with its defaults, and with ``precision="fp32"``
  (channels-last off: the fp32 eager path), after one untimed call, fastest of ``--repeats``;
  the whole call's CPU time is shown beside it.

Targets (issue #22): the API within 10 % of restore.py's per-image sampler time; fp32 at least 1.8×
slower than the default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager

from ddrm_lightning.restoration import restorer as restorer_module

TIMES: list[float] = []  # CPU seconds per image of each restore_batch call


@contextmanager
def timed_restore_batch():
    """Record the CPU time per image of every ``restore_batch`` call a ``Restorer`` makes."""
    real = restorer_module.restore_batch

    def timed(prior, degradation, image, *args, **kwargs):
        start = time.process_time()
        result = real(prior, degradation, image, *args, **kwargs)
        TIMES.append((time.process_time() - start) / image.shape[0])
        return result

    restorer_module.restore_batch = timed
    try:
        yield
    finally:
        restorer_module.restore_batch = real


def cli_seconds(size: int, task: str) -> float:
    from ddrm_lightning.cli import main

    TIMES.clear()
    with tempfile.TemporaryDirectory() as out:
        status = main(["--data.names", "astronaut", "--data.image_size", str(size), "--task", task,
                       "--model.baselines", "[]", "--out_dir", out, "--report", "false",
                       "--trainer.enable_progress_bar", "false"])
    assert status == 0, f"restore.py exited with {status}"
    return min(TIMES)


def api_seconds(image, task: str, repeats: int, **kwargs) -> tuple[float, float]:
    """(sampler CPU s per image, whole call CPU s): the fastest of ``repeats`` calls after one untimed call."""
    from ddrm_lightning import load_prior, restore

    prior = load_prior("embedded")
    restore(image, task, prior=prior, **kwargs)
    TIMES.clear()
    calls = []
    for _ in range(repeats):
        start = time.process_time()
        restore(image, task, prior=prior, **kwargs)
        calls.append(time.process_time() - start)
    return min(TIMES), min(calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--task", default="sr4")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from PIL import Image
    from skimage import data

    from ddrm_lightning.data.geometry import center_crop

    image = center_crop(Image.fromarray(data.astronaut()), args.size)
    with timed_restore_batch():
        cli = cli_seconds(args.size, args.task)
        api, api_call = api_seconds(image, args.task, args.repeats)
        fp32, fp32_call = api_seconds(image, args.task, args.repeats, precision="fp32", channels_last=False)
    print(f"{args.task} at {args.size}², CPU seconds per image of restore_batch:")
    print(f"  restore.py (defaults)            {cli:.3f}")
    print(f"  restore() (defaults)             {api:.3f}  = {api / cli:.3f}× restore.py (target ≤ 1.10); "
          f"whole call {api_call:.3f}")
    print(f"  restore(precision='fp32')        {fp32:.3f}  = {fp32 / api:.2f}× the default (target ≥ 1.8); "
          f"whole call {fp32_call:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
