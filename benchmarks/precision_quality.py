"""What each fast path of the network costs in quality, and what it gains in speed, in one run.

    python benchmarks/precision_quality.py            # the table of docs/performance.md (~8 min on 2 cores)

The embedded prior restores the demo photos (astronaut, coffee, chelsea, rocket) and a second set it
never saw (matplotlib's grace_hopper; scikit-image's text, clock, page), centre-cropped to 128×128 by
restore.py's data layer, for restore.py's three tasks (deno σ_y = 0.1, sr4 and deblur_gauss σ_y = 0.05)
and several global seeds, once per fast path: fp32 eager (the reference), bf16 autocast, channels-last,
channels-last + bf16, torch.compile (fp16 autocast on CUDA only). For each path and task it reports the
mean PSNR / SSIM change against fp32 eager over the same images and seeds, and the seconds per image
of the restorations it timed in the same run (the speed-up is a ratio measured side by side).

Writes <out>/precision_quality.csv (one row per image and path), precision_summary.csv and
precision_quality.md. Which path restore.py's defaults take on this device (``precision: auto``,
``model.channels_last`` of configs/default.yaml) is marked in the tables.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch
import yaml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from precision_paths import DEMO, HELD_OUT, PATHS, device_line, sweep, today
from precision_tables import (
    quality_table,
    reference_table,
    speed_table,
    summarize,
    write_csv,
)

from ddrm_lightning.cli.trainer import resolve_precision

DEFAULT_PATHS = ("fp32", "bf16", "channels_last", "channels_last+bf16", "compile", "fp16")
DEFAULT_CONFIG = HERE.parent / "ddrm_lightning" / "configs" / "default.yaml"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--paths", nargs="+", default=list(DEFAULT_PATHS), choices=list(PATHS),
                        help="fast paths; fp32 (the reference) is always run first")
    parser.add_argument("--steps", type=int, default=20, help="DDRM steps (restore.py's default)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="global seeds")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="precision_quality",
                        help="stem of the CSV / Markdown files (precision_summary.csv follows it)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    return args


def default_path(device: torch.device) -> str | None:
    """The fast path restore.py's defaults take on ``device``, or None when no listed path matches."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    precision, _ = resolve_precision(config["trainer"].get("precision", "auto"), device.type)
    channels_last = bool(config.get("model", {}).get("channels_last", False))
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    return next((p.name for p in PATHS.values() if (p.dtype, p.channels_last, p.compile, p.group_norm)
                 == (dtype, channels_last, False, "package")), None)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = ["fp32", *[n for n in dict.fromkeys(args.paths) if n != "fp32"]]
    notes = {n: PATHS[n].skip_reason(device) for n in names}
    run = [PATHS[n] for n in names if notes[n] is None]
    skipped = {n: f"skipped: {why}" for n, why in notes.items() if why}
    chosen = default_path(device)
    started = time.perf_counter()
    rows = sweep(run, steps=args.steps, seeds=args.seeds, device=device,
                 log=lambda text: print(text, file=sys.stderr, flush=True))
    minutes = (time.perf_counter() - started) / 60
    quality, speed = summarize(rows, [p.name for p in run])
    stem = args.out / args.name
    write_csv(stem.with_suffix(".csv"), rows)
    write_csv(_summary_path(args), [{"kind": "quality", **q} for q in quality] + [{"kind": "speed", **s} for s in speed])
    speed_notes = {"fp32": "reference"}
    if chosen:
        speed_notes[chosen] = "; ".join(filter(None, [speed_notes.get(chosen), "**restore.py default here**"]))
    command = "python benchmarks/precision_quality.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    lines = [
        "# Fast paths: quality and speed", "",
        (f"{today()}; {device_line(device)}; command `{command.strip()}`; {args.steps} DDRM steps (η = 0.85, "
         f"η_b = 1), global seeds {', '.join(map(str, args.seeds))}; {minutes:.1f} min."), "",
        (f"Photos, centre-cropped to 128×128 by restore.py's data layer: demo = {', '.join(DEMO)}; held-out = "
         f"{', '.join(n.split(':', 1)[1] for n in HELD_OUT)} (none of them in the embedded prior's training set). "
         "Δ = the path's value − fp32 eager's, for the same image, task and seed, averaged over images and seeds."),
        "", "## Quality change against fp32 eager", "", *quality_table(quality, [p.name for p in run], ["demo", "held-out"]),
        "", "## fp32 eager itself", "", *reference_table(quality, "fp32", ["demo", "held-out"]),
        "", "## Speed (sampling time per image, batch 4, the paths taking turns in one run)", "",
        *speed_table(speed, speed_notes),
    ]
    lines += [f"| {n} | — | — | — | — | — | {why} |" for n, why in skipped.items()]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


def _summary_path(args: argparse.Namespace) -> Path:
    name = args.name.replace("quality", "summary", 1) if "quality" in args.name else f"{args.name}_summary"
    return args.out / f"{name}.csv"


if __name__ == "__main__":
    sys.exit(main())
