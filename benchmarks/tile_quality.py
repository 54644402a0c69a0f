"""Quality and time of tiled restoration at the prior's own size against the whole image, on the demo.

    python benchmarks/tile_quality.py            # ~4 min on the 2-core development CPU

The embedded prior was trained on 64×64 crops; the demo restores 128×128 photos. This runs the
demo sweep (``python restore.py``, its defaults) untiled and with ``--model.tile 64``, on the demo
photos and on four photos the prior never saw (matplotlib's grace_hopper, scikit-image's text,
clock, page), for global seeds 0, 1, 2, and prints, per set and task, the mean PSNR / SSIM change
of every (image, seed) pair, its range, and the sweeps' wall time.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from precision_paths import DEMO, HELD_OUT, _held_out_image  # noqa: E402

RESTORE = HERE.parent / "restore.py"
VARIANTS = {"whole image": [], "tiles 64": ["--model.tile", "64"]}


def write_held_out(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in HELD_OUT:
        _held_out_image(name).save(folder / f"{name.split(':', 1)[1].split('.')[0]}.png")
    return folder


def sweep(data_args: list[str], variant: list[str], seed: int, out_dir: Path) -> tuple[dict, float]:
    """{(task, id): (psnr, ssim)} of the restoration, and the sweep's wall time."""
    command = [sys.executable, str(RESTORE), *data_args, "--data.seed", str(seed), *variant,
               "--out_dir", str(out_dir), "--report", "false", "--overwrite", "true"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr.strip()}")
    with open(out_dir / "metrics.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["method"] == "ddrm" and r["status"] == "ok"]
    return {(r["task"], r["id"]): (float(r["psnr"]), float(r["ssim"])) for r in rows}, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tile-quality-"))
    sets = {"demo": ["--data.names", *DEMO], "held-out": ["--data.root", str(write_held_out(work / "held-out"))]}
    scores: dict[tuple, dict[str, tuple[float, float]]] = defaultdict(dict)
    seconds: dict[str, list[float]] = defaultdict(list)
    for seed in args.seeds:
        for set_name, data_args in sets.items():
            for variant, extra in VARIANTS.items():
                result, wall = sweep(data_args, extra, seed, work / f"{set_name}-{seed}-{len(extra)}")
                seconds[variant].append(wall)
                for (task, sample), value in result.items():
                    scores[(set_name, task, seed, sample)][variant] = value
    print("| set | task | pairs | PSNR whole image | ΔPSNR tiles 64 (mean, min … max) | ΔSSIM |")
    print("|---|---|---|---|---|---|")
    groups: dict[tuple, list] = defaultdict(list)
    for (set_name, task, _, _), pair in sorted(scores.items()):
        if len(pair) == len(VARIANTS):
            groups[(set_name, task)].append(pair)
    for (set_name, task), pairs in groups.items():
        delta = [p["tiles 64"][0] - p["whole image"][0] for p in pairs]
        delta_ssim = [p["tiles 64"][1] - p["whole image"][1] for p in pairs]
        base = statistics.mean(p["whole image"][0] for p in pairs)
        print(f"| {set_name} | {task} | {len(pairs)} | {base:.2f} | {statistics.mean(delta):+.3f} "
              f"({min(delta):+.2f} … {max(delta):+.2f}) | {statistics.mean(delta_ssim):+.4f} |")
    print("\nmean sweep wall time: " + ", ".join(f"{v} {statistics.mean(s):.1f} s" for v, s in seconds.items()))


if __name__ == "__main__":
    main()
