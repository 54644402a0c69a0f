"""JPEG restoration measured: DDRM-JPEG against the decoded file and TV deblocking, on photos saved by Pillow.

Each photo is centre-cropped to 128×128 as the demo does, saved by Pillow at quality q (4:2:0, Pillow's
default), and restored *from the file* with ``restore(path, "jpeg", measured=True)`` (the embedded
prior, restore()'s defaults: its 25 steps, tiles of 64, bf16 where native); the tables come from the
file. ``observed`` is the decoded file, ``tv`` the classical baseline of the jpeg task (scikit-image's
Chambolle TV on the decoded image, weight ``TV_WEIGHT_PER_STEP`` × the mean low-frequency luminance step).
Scores are PSNR / SSIM (``metrics.image``) against the crop before saving.

    OMP_NUM_THREADS=1 python benchmarks/jpeg_quality.py [--set demo|validation|both] [--qualities 5 10 20 40]
        [--out docs/jpeg_table.md] [--tune-tv]

``--tune-tv`` instead prints the mean PSNR of TV at several weights (how ``TV_WEIGHT_PER_STEP`` was chosen).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from prior_validation import DEMO, VALIDATION, load_photo  # noqa: E402

from ddrm_lightning import load_prior, restore  # noqa: E402
from ddrm_lightning.data.decoding import jpeg_info  # noqa: E402
from ddrm_lightning.data.geometry import center_crop  # noqa: E402
from ddrm_lightning.metrics.image import psnr, ssim  # noqa: E402
from ddrm_lightning.operators import build_operator  # noqa: E402
from ddrm_lightning.restoration import core  # noqa: E402

METHODS = ("ddrm-jpeg", "observed", "tv")


def _unit(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]


def photos(which: str, size: int) -> dict[str, Image.Image]:
    names = ([f"skimage:{n}" for n in DEMO] if which in ("demo", "both") else []) + \
            (list(VALIDATION) if which in ("validation", "both") else [])
    return {Path(n.split(":", 1)[1]).stem: center_crop(load_photo(n), size) for n in names}


def tv_of(path: Path, decoded: torch.Tensor, weight_per_step: float | None = None) -> torch.Tensor:
    info = jpeg_info(Image.open(path))
    op = build_operator("jpeg", 3, *decoded.shape[-2:], tables=info["tables"], components=info["components"])
    old = core.TV_WEIGHT_PER_STEP
    try:
        if weight_per_step is not None:
            core.TV_WEIGHT_PER_STEP = weight_per_step
        return (core.tv_deblocking(decoded * 2 - 1, op) + 1) / 2
    finally:
        core.TV_WEIGHT_PER_STEP = old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("demo", "validation", "both"), default="demo")
    parser.add_argument("--qualities", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    parser.add_argument("--tune-tv", action="store_true")
    args = parser.parse_args(argv)
    prior = None if args.tune_tv else load_prior("embedded")
    originals = photos(args.set, args.size)
    scores: dict[tuple[int, str], list[tuple[float, float]]] = {}
    per_photo: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for quality in args.qualities:
            for name, image in originals.items():
                path = Path(work) / f"{name}_q{quality}.jpg"
                image.save(path, quality=quality)
                original, decoded = _unit(image), _unit(Image.open(path))
                if args.tune_tv:
                    for weight in (0.0002, 0.0003, 0.0004, 0.0005, 0.0007):
                        scores.setdefault((quality, f"tv {weight:g}"), []).append(
                            (float(psnr(tv_of(path, decoded, weight), original)), 0.0))
                    continue
                results = {
                    "ddrm-jpeg": _unit(restore(path, "jpeg", measured=True, prior=prior, seed=args.seed)),
                    "observed": decoded, "tv": tv_of(path, decoded),
                }
                for method, x in results.items():
                    pair = (float(psnr(x, original)), float(ssim(x, original)))
                    scores.setdefault((quality, method), []).append(pair)
                per_photo.append(f"q{quality} {name}: " + ", ".join(
                    f"{m} {scores[(quality, m)][-1][0]:.2f}" for m in METHODS))
                print(per_photo[-1], flush=True)
    lines = ["| quality | method | PSNR (dB) | SSIM |", "|---|---|---|---|"]
    for (quality, method), values in scores.items():
        p = [v[0] for v in values]
        s = [v[1] for v in values]
        spread = f" ± {statistics.stdev(p):.2f}" if len(p) > 1 else ""
        lines.append(f"| {quality} | {method} | {statistics.mean(p):.2f}{spread} | {statistics.mean(s):.3f} |")
    if not args.tune_tv:
        gains = {q: statistics.mean(a[0] - b[0] for a, b in zip(scores[(q, "ddrm-jpeg")], scores[(q, "observed")]))
                 for q in args.qualities}
        lines += ["", "DDRM-JPEG − decoded file, mean PSNR gain (dB): "
                  + ", ".join(f"q{q} {g:+.2f}" for q, g in gains.items()),
                  f"({len(originals)} photos, {time.perf_counter() - started:.0f} s in all)"]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n\nPer photo (PSNR):\n\n" + "\n".join(f"- {line}" for line in per_photo) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
