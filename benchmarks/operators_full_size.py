"""Operators at photograph size: build time, peak memory and transform times, one process per operator.

    OMP_NUM_THREADS=1 python benchmarks/operators_full_size.py                 # 3×1024×1536, the default set
    python benchmarks/operators_full_size.py --size 3x2048x3072 --operators sr4 color
    python benchmarks/operators_full_size.py --operators cs4 --size 3x1024x2048

Each operator is measured in a fresh subprocess, so ``peak MiB`` is that process's own
high-water mark (``resource.getrusage(...).ru_maxrss``) above its baseline after importing
torch and building a 16×16 operator of the same kind (library initialisation is not the
operator's cost). ``build peak`` is the peak after construction, ``peak`` after the
transforms too (which also hold the test image and its transforms, batch 1). ``buffers``
is what the operator keeps (its state_dict). Transform times are the best of ``--repeats``
calls on the CPU with the current thread count. ``err`` is the largest of
max|V Vᵀx − x|, max|U Uᵀy − y| and max|H H⁺y − y| (float32 buffers).
Operators the size does not allow are listed with their error message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# name -> (registry operator, parameters); "@mask" stands for a mask image written at run time.
OPERATORS: dict[str, tuple[str, dict]] = {
    "sr4": ("sr4", {}),
    "sr_bicubic4": ("sr_bicubic4", {}),
    "deblur_gauss": ("deblur_gauss", {}),
    "deblur_gauss reflect": ("deblur_gauss", {"boundary": "reflect"}),
    "deblur_aniso": ("deblur_aniso", {}),
    "deblur (custom kernel)": ("deblur", {"sigma_rows": 3.0, "kernel_cols": [0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05]}),
    "inp_mask": ("inp_mask", {"path": "@mask"}),
    "color": ("color", {}),
    "deno": ("deno", {}),
    "inp": ("inp", {}),
    "inp_text": ("inp_text", {}),
    "cs4": ("cs4", {}),
}
DEFAULT = ["sr4", "sr_bicubic4", "deblur_gauss", "deblur_gauss reflect", "deblur (custom kernel)", "inp_mask",
           "color", "deno", "inp", "cs4"]


def parse_size(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 3x1024x1536 (CxHxW), got {text!r}") from None
    if min(c, h, w) < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return c, h, w


def write_mask(path: Path, height: int, width: int) -> None:
    """A mask image with missing blocks (seeded), as a user's mask file would be."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    blocks = rng.random(((height + 31) // 32, (width + 31) // 32)) > 0.2
    mask = np.kron(blocks, np.ones((32, 32), dtype=bool))[:height, :width]
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _best_ms(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3, out


def measure_one(label: str, size: tuple[int, int, int], repeats: int) -> dict:
    """Runs inside the child process."""
    import torch

    from ddrm_lightning.operators import build_operator

    name, params = OPERATORS[label]
    c, h, w = size
    with tempfile.TemporaryDirectory() as tmp:
        if params.get("path") == "@mask":
            write_mask(Path(tmp) / "warm.png", 16, 16)
            write_mask(Path(tmp) / "mask.png", h, w)
        warm = {**params, "path": str(Path(tmp) / "warm.png")} if "path" in params else params
        full = {**params, "path": str(Path(tmp) / "mask.png")} if "path" in params else params
        try:
            build_operator(name, c, 16, 16, **warm)
        except ValueError:
            pass  # the full size decides; a 16×16 warm-up only initialises the libraries
        baseline = _peak_mib()
        start = time.perf_counter()
        try:
            op = build_operator(name, c, h, w, **full)
        except ValueError as error:
            return {"operator": label, "error": str(error)}
        build_s = time.perf_counter() - start
    build_peak = _peak_mib() - baseline
    buffers = sum(b.numel() * b.element_size() for b in op.buffers()) / 2**20
    x = torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        vt_ms, z = _best_ms(lambda: op.Vt(x), repeats)
        v_ms, x_back = _best_ms(lambda: op.V(z), repeats)
        y = op.H(x)
        ut_ms, zy = _best_ms(lambda: op.Ut(y), repeats)
        u_ms, y_back = _best_ms(lambda: op.U(zy), repeats)
        h_ms, _ = _best_ms(lambda: op.H(x), repeats)
        pinv_ms, x_pinv = _best_ms(lambda: op.H_pinv(y), repeats)
        err = max((x_back - x).abs().max().item(), (y_back - y).abs().max().item(),
                  (op.H(x_pinv) - y).abs().max().item())
    return {
        "operator": label, "build_s": build_s, "build_peak_mib": build_peak, "peak_mib": _peak_mib() - baseline,
        "buffers_mib": buffers, "Vt_ms": vt_ms, "V_ms": v_ms, "Ut_ms": ut_ms, "U_ms": u_ms, "H_ms": h_ms,
        "H_pinv_ms": pinv_ms, "err": err, "threads": torch.get_num_threads(),
    }


def run_child(label: str, size: tuple[int, int, int], repeats: int) -> dict:
    command = [sys.executable, __file__, "--child", label, "--size", "x".join(map(str, size)),
               "--repeats", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"operator": label, "error": f"subprocess failed ({done.returncode}): {tail}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict], size: tuple[int, int, int]) -> str:
    header = ("| operator | build s | build peak MiB | peak MiB | buffers MiB | Vt ms | V ms | Ut ms | U ms "
              "| H ms | H⁺ ms | err |")
    lines = [f"Size {'×'.join(map(str, size))}, batch 1, float32 buffers.", "", header,
             "|" + "---|" * (header.count("|") - 1)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['operator']} | not allowed: {row['error']} |" + " |" * 10)
            continue
        lines.append(
            f"| {row['operator']} | {row['build_s']:.2f} | {row['build_peak_mib']:.0f} | {row['peak_mib']:.0f} "
            f"| {row['buffers_mib']:.1f} | {row['Vt_ms']:.0f} | {row['V_ms']:.0f} | {row['Ut_ms']:.0f} "
            f"| {row['U_ms']:.0f} | {row['H_ms']:.0f} | {row['H_pinv_ms']:.0f} | {row['err']:.1e} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=(3, 1024, 1536), help="CxHxW (default 3x1024x1536)")
    parser.add_argument("--operators", nargs="+", default=DEFAULT, choices=sorted(OPERATORS), metavar="NAME",
                        help=f"any of: {', '.join(OPERATORS)} (default: {', '.join(DEFAULT)})")
    parser.add_argument("--repeats", type=int, default=3, help="transform timings: best of this many calls")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.child:
        print(json.dumps(measure_one(args.child, args.size, args.repeats)))
        return
    rows = [run_child(label, args.size, args.repeats) for label in args.operators]
    print(table(rows, args.size))
    threads = {row["threads"] for row in rows if "threads" in row}
    print(f"\ntorch threads: {', '.join(map(str, sorted(threads))) or 'n/a'}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    main()
