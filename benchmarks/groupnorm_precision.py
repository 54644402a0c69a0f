"""GroupNorm under bf16 autocast: PyTorch's kernel on the bf16 input, or a float32 copy of it?

    python benchmarks/groupnorm_precision.py          # the GroupNorm table of docs/performance.md (~7 min)

The published DDPM code normalises with plain ``nn.GroupNorm``; under CPU bf16 autocast that runs
PyTorch's bf16 kernel on the bf16 activations. ``gn-fp32`` instead normalises a float32 copy and casts
the result back (what GroupNorm32 always did before). On the embedded prior, batch 4, 128×128, this
measures (1) the time of one network call with each (the variants taking turns, many rounds),
(2) how far their ε lie apart, next to how far bf16 lies from fp32, and (3) the restorations' PSNR /
SSIM with each against fp32 eager (restore.py's tasks, both photo sets, several seeds).

Writes <out>/precision_groupnorm.csv (one row per image and path), precision_groupnorm_forward.csv
and precision_groupnorm.md.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from precision_paths import (
    IMAGE_SIZE,
    PATHS,
    build_prior,
    device_line,
    sweep,
    timed_forwards,
    today,
)
from precision_tables import quality_table, speed_table, summarize, write_csv

VARIANTS = ("bf16 gn-fp32", "bf16 gn-bf16", "channels_last+bf16 gn-fp32", "channels_last+bf16 gn-bf16")
TIMESTEPS = (999, 500, 100, 10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="timed network calls per variant")
    parser.add_argument("--batch", type=int, default=4, help="batch of the timed calls (restore.py's demo: 4)")
    parser.add_argument("--steps", type=int, default=20, help="DDRM steps of the restorations")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="global seeds of the restorations")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.batch < 1 or args.steps < 1:
        parser.error("--rounds, --batch and --steps must be >= 1")
    return args


def forward_times(batch: int, rounds: int, device: torch.device) -> list[dict]:
    """Per variant: median and fastest seconds of one network call, and the median over rounds of the
    paired ratio gn-fp32 time / gn-bf16 time (same memory format, same round)."""
    priors = {name: build_prior(PATHS[name], device) for name in VARIANTS}
    for prior in priors.values():
        timed_forwards(prior, batch, device, 2)  # warm-up
    times = {name: [] for name in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for name in order:
            times[name] += timed_forwards(priors[name], batch, device, 1)
    rows = []
    for name in VARIANTS:
        row = {"path": name, "batch": batch, "calls": rounds, "median_s": statistics.median(times[name]),
               "min_s": min(times[name]), "speedup_vs_gn_fp32_paired_median": ""}
        if "gn-bf16" in name:
            base = times[name.replace("gn-bf16", "gn-fp32")]
            row["speedup_vs_gn_fp32_paired_median"] = statistics.median(b / t for b, t in zip(base, times[name]))
        rows.append(row)
    return rows


def eps_differences(device: torch.device) -> list[dict]:
    """Relative L2 distance of ε between variants on one fixed noisy batch, at several timesteps."""
    names = ("fp32", "bf16 gn-fp32", "bf16 gn-bf16")
    priors = {n: build_prior(PATHS[n], device) for n in names}
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator).to(device)
    rows = []
    with torch.no_grad():
        for t in TIMESTEPS:
            steps = torch.full((4,), t, device=device)
            eps = {n: priors[n].eps(x, steps) for n in names}
            pairs = {"gn-bf16 vs gn-fp32 (both bf16)": ("bf16 gn-bf16", "bf16 gn-fp32"),
                     "bf16 gn-fp32 vs fp32": ("bf16 gn-fp32", "fp32"), "bf16 gn-bf16 vs fp32": ("bf16 gn-bf16", "fp32")}
            rows.append({"t": t, **{label: float((eps[a] - eps[b]).norm() / eps[b].norm())
                                    for label, (a, b) in pairs.items()}})
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")  # CUDA autocast runs group_norm in float32 whatever the module does
    log = lambda text: print(text, file=sys.stderr, flush=True)
    started = time.perf_counter()
    forwards = forward_times(args.batch, args.rounds, device)
    log("forward timings done")
    eps_rows = eps_differences(device)
    paths = [PATHS[n] for n in ("fp32", *VARIANTS)]
    rows = sweep(paths, steps=args.steps, seeds=args.seeds, device=device, log=log)
    minutes = (time.perf_counter() - started) / 60
    quality, speed = summarize(rows, [p.name for p in paths])
    write_csv(args.out / "precision_groupnorm.csv", rows)
    write_csv(args.out / "precision_groupnorm_forward.csv",
              [{"kind": "forward", **r} for r in forwards] + [{"kind": "eps", **r} for r in eps_rows]
              + [{"kind": "quality", **q} for q in quality] + [{"kind": "speed", **s} for s in speed])
    command = "python benchmarks/groupnorm_precision.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    eps_head = list(eps_rows[0])
    lines = [
        "# GroupNorm under bf16 autocast: bf16 kernel vs float32 copy", "",
        f"{today()}; {device_line(device)}; command `{command.strip()}`; {minutes:.1f} min.", "",
        f"## One network call (embedded prior, batch {args.batch}, 128×128, {args.rounds} rounds, variants taking turns)", "",
        "| path | median s | fastest s | speed-up of gn-bf16 over gn-fp32 (median of paired calls) |",
        "|---|---|---|---|",
        *[f"| {r['path']} | {r['median_s']:.4f} | {r['min_s']:.4f} | "
          f"{'' if r['speedup_vs_gn_fp32_paired_median'] == '' else format(r['speedup_vs_gn_fp32_paired_median'], '.3f') + '×'} |"
          for r in forwards],
        "", "## ε: relative L2 distance on one noisy batch", "",
        "| " + " | ".join(eps_head) + " |", "|" + "---|" * len(eps_head),
        *["| " + " | ".join(f"{r[k]:.2e}" if isinstance(r[k], float) else str(r[k]) for k in eps_head) + " |"
          for r in eps_rows],
        "", f"## Restorations ({args.steps} steps, seeds {', '.join(map(str, args.seeds))}): change against fp32 eager", "",
        *quality_table(quality, [p.name for p in paths], ["demo", "held-out"]),
        "", "## Restoration time per image (same run)", "", *speed_table(speed, {"fp32": "reference"}),
    ]
    (args.out / "precision_groupnorm.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
