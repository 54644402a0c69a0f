"""Peak memory and time of tiled DDRM (ddrm_lightning.sampling.tiles) against the untiled network.

    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py                 # the table of docs/tiles.md (~2.5 min)
    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py --no-table --demo /tmp/tiles_demo  # crops (~5 min)

Every measurement runs in its own process, so ``getrusage``'s peak RSS is that measurement's.
A process builds the photo (scikit-image's astronaut, resized to the photo height, reflect-padded to
the width), y = sr4(x) + σ₀n with σ_y = 0.05, loads the embedded prior, notes its peak RSS, then
restores with DDRM (η = 0.85, η_b = 1, clip_denoised) and notes the peak again: "sampling" is the
growth of the peak while restoring, which is where the network's activations show.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SIGMA_Y = 0.05
TILE, OVERLAP = 64, 16
# (height, width, network, max_batch); network "none" is ε ≡ 0: what the sampler alone needs.
CONFIGS = [
    (256, 384, "none", 0),
    (512, 768, "none", 0),
    (256, 384, "tiled", 8),
    (512, 768, "tiled", 8),
    (512, 768, "tiled", 2),
    (512, 768, "tiled", 32),
    (256, 384, "whole", 0),
    (512, 768, "whole", 0),
]
NETWORKS = ("tiled", "whole", "none")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def photo(height: int, width: int):
    """The astronaut in model space [-1, 1], (1, 3, height, width): resized to height × height
    (antialiased) and reflect-padded left and right to the width, so its pixels are the photo's."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut())
    if image.height != height:
        image = image.resize((height, height), Image.Resampling.LANCZOS)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)
    pad = width - x.shape[-1]
    if pad < 0 or pad >= x.shape[-1]:
        raise ValueError(f"width {width} must be in [{height}, {2 * height}) for a {height}-pixel-high photo")
    return F.pad(x, (pad // 2, pad - pad // 2, 0, 0), mode="reflect")


def restore(height: int, width: int, network: str, max_batch: int, steps: int, seed: int = 0, overlap: int = OVERLAP):
    """(restoration, y, x, operator, info) of one sr4 restoration of the photo with the embedded prior,
    through ``restoration.restore_batch`` (the sweep's own path): only the ε-network differs."""
    import torch

    from ddrm_lightning.models import load_model
    from ddrm_lightning.models.embedded import resolve_checkpoint
    from ddrm_lightning.operators import Degradation, build_operator
    from ddrm_lightning.randomness import SampleRandomness
    from ddrm_lightning.restoration import Denoiser, SamplerSettings, restore_batch
    from ddrm_lightning.restoration.loading import assemble_denoiser
    from ddrm_lightning.sampling.tiles import tile_grid

    if network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {network!r}")
    x = photo(height, width)
    degradation = Degradation(build_operator("sr4", 3, height, width), SIGMA_Y)
    loaded = load_model(resolve_checkpoint("embedded"))
    prior: Denoiser = assemble_denoiser(loaded, tiling=(TILE, overlap, max_batch) if network == "tiled" else None)[0]
    if network == "none":
        prior.network = lambda x_t, t, labels=None: torch.zeros_like(x_t)
    settings = SamplerSettings(timesteps=steps, eta=0.85, eta_b=1.0, clip_denoised=True, baselines=())
    before = _peak_mib()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = restore_batch(prior, degradation, x, SampleRandomness.from_ids(seed, ["astronaut"]), settings)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out = result.restored
    mse = float((((out.clamp(-1, 1) - x) / 2) ** 2).mean())
    info = {
        "height": height, "width": width, "network": network, "max_batch": max_batch, "steps": steps,
        "tiles": len(tile_grid(height, width, TILE, overlap)) if network == "tiled" else 1,
        "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_before_mib": before, "peak_mib": _peak_mib(),
        "consistency": float(result.consistency[settings.method][0]),
        "psnr": 10 * math.log10(1.0 / mse),
    }
    return out, result.y, x, degradation.operator, info


def _child(spec: str) -> None:
    config = json.loads(spec)
    *_, info = restore(**config)
    print(json.dumps(info))


def measure(steps: int) -> list[dict]:
    rows = []
    for height, width, network, max_batch in CONFIGS:
        spec = json.dumps({"height": height, "width": width, "network": network, "max_batch": max_batch, "steps": steps})
        done = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"measurement {spec} failed:\n{done.stderr.strip()}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(_row(rows[-1], rows), flush=True)
    return rows


HEADER = ("| photo | ε from | tiles | peak RSS (MiB) | growth while sampling (MiB) | network's share (MiB) "
          "| CPU s / step | CPU s / megapixel / step | wall s / step | consistency | PSNR (dB) |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def _growth(r: dict) -> float:
    return max(r["peak_mib"] - r["peak_before_mib"], 0.0)


def _row(r: dict, rows: list[dict]) -> str:
    """One table row; the network's share is the growth beyond that of ε ≡ 0 at the same photo size."""
    megapixels = r["height"] * r["width"] / 1e6
    cpu, wall = r["cpu_seconds"] / r["steps"], r["seconds"] / r["steps"]
    what = {"tiled": f"tiles {TILE}/{OVERLAP}, max_batch {r['max_batch']}", "whole": "whole image",
            "none": "ε ≡ 0 (sampler only)"}[r["network"]]
    sampler = [o for o in rows if o["network"] == "none" and (o["height"], o["width"]) == (r["height"], r["width"])]
    share = "—" if r["network"] == "none" or not sampler else f"{_growth(r) - _growth(sampler[0]):.0f}"
    quality = "— | —" if r["network"] == "none" else f"{r['consistency']:.4f} | {r['psnr']:.2f}"
    return (f"| {r['height']}×{r['width']} | {what} | {r['tiles'] if r['network'] != 'none' else '—'} | "
            f"{r['peak_mib']:.0f} | {_growth(r):.0f} | {share} | {cpu:.2f} | {cpu / megapixels:.2f} | {wall:.2f} | "
            f"{quality} |")


def seam_contrast(image, tile: int = TILE, overlap: int = OVERLAP, period: int = 4) -> float:
    """Mean |neighbour difference| across the tile edges of the grid / across the other lines of the
    same phase modulo ``period`` (sr4's block edges, which carry more contrast than block interiors
    in any sr4 restoration): 1 means the tile edges are no different from other block edges."""
    import torch

    from ddrm_lightning.sampling.tiles import tile_grid

    height, width = image.shape[-2:]
    corners = tile_grid(height, width, tile, overlap)
    ratios = []
    for size, starts, diff in (
        (height, {c[0] for c in corners}, (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))),
        (width, {c[1] for c in corners}, (image[..., 1:] - image[..., :-1]).abs().mean(dim=(0, 1, 2))),
    ):
        edges = {e for s in starts for e in (s, s + tile) if 0 < e < size}
        if any(e % period for e in edges):
            raise ValueError(f"tile edges must lie on multiples of {period} for this comparison")
        at_edge = torch.tensor([e in edges for e in range(1, size)])
        same_phase = torch.tensor([e % period == 0 for e in range(1, size)])
        ratios.append((diff[at_edge].sum(), diff[same_phase & ~at_edge].sum(), int(at_edge.sum()),
                       int((same_phase & ~at_edge).sum())))
    edge = sum(r[0] for r in ratios) / sum(r[2] for r in ratios)
    other = sum(r[1] for r in ratios) / sum(r[3] for r in ratios)
    return float(edge / other)


def demo(folder: Path, steps: int) -> None:
    """Before/after 100 % crops of the astronaut at 512×768:
    observed | whole-image DDRM | hard tiles (overlap 0) | blended tiles | original."""
    import numpy as np
    import torch
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    tiled, y, x, op, info_t = restore(512, 768, "tiled", 8, steps)
    whole, *_, info_w = restore(512, 768, "whole", 0, steps)
    hard, *_, info_h = restore(512, 768, "tiled", 8, steps, overlap=0)
    observed = op.observed(y)

    def to_uint8(image: torch.Tensor) -> np.ndarray:
        return (((image[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())

    top, left, size = 40, 240, 224  # the face and helmet; spans several tile borders (tile stride 48)
    gap = np.full((size, 8, 3), 255, dtype=np.uint8)
    panels = []
    for image in (observed, whole, hard, tiled, x):
        panels += [to_uint8(image)[top : top + size, left : left + size], gap]
    Image.fromarray(np.concatenate(panels[:-1], axis=1)).save(folder / "astronaut_sr4_crop.png")
    labels = ("observed (bicubic)", "whole image", "hard tiles (no overlap)", f"tiles {TILE}, overlap {OVERLAP}",
              "original")
    labelled(panels[::2], labels).save(folder / "tiles_demo.png")
    Image.fromarray(to_uint8(tiled)).save(folder / "astronaut_sr4_tiled.png")
    Image.fromarray(to_uint8(whole)).save(folder / "astronaut_sr4_whole.png")
    Image.fromarray(to_uint8(observed)).save(folder / "astronaut_sr4_observed.png")
    mse = float((((observed.clamp(-1, 1) - x) / 2) ** 2).mean())
    print(f"demo ({steps} steps): observed (bicubic) PSNR {10 * math.log10(1 / mse):.2f} dB; "
          f"whole-image DDRM {info_w['psnr']:.2f} dB, {info_w['seconds']:.0f} s; "
          f"hard tiles {info_h['psnr']:.2f} dB, {info_h['seconds']:.0f} s; "
          f"tiled DDRM {info_t['psnr']:.2f} dB, {info_t['seconds']:.0f} s")
    print(f"seam contrast at the {TILE}/{OVERLAP} tile edges (1 = like other sr4 block edges): "
          f"tiled {seam_contrast(tiled.clamp(-1, 1)):.3f}, whole-image {seam_contrast(whole.clamp(-1, 1)):.3f}, "
          f"original {seam_contrast(x):.3f}; hard tiles at their {TILE}/0 edges "
          f"{seam_contrast(hard.clamp(-1, 1), overlap=0):.3f} (whole-image there: "
          f"{seam_contrast(whole.clamp(-1, 1), overlap=0):.3f})")
    print(f"wrote {folder / 'astronaut_sr4_crop.png'} (observed | whole-image DDRM | hard tiles | blended tiles | "
          f"original, rows {top}-{top + size}, columns {left}-{left + size}) and {folder / 'tiles_demo.png'} "
          "(the same, labelled: docs/tiles_demo.png)")


def labelled(crops, labels):
    """The crops side by side, each under its label (the report grids' font), 8 white pixels apart."""
    import numpy as np
    from PIL import Image

    from ddrm_lightning.reports.images import render_label

    gap, size = 8, crops[0].shape[0]
    names = [render_label(label) for label in labels]
    head = max(name.height for name in names)
    canvas = Image.new("RGB", (len(crops) * (size + gap) - gap, head + size), "white")
    for i, (crop, name) in enumerate(zip(crops, names)):
        x = i * (size + gap)
        canvas.paste(name, (x + max(size - name.width, 0) // 2, head - name.height))
        canvas.paste(Image.fromarray(np.ascontiguousarray(crop)), (x, head))
    return canvas


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="DDRM steps of each measurement")
    parser.add_argument("--demo", type=Path, default=None, help="also write before/after crops to this folder")
    parser.add_argument("--demo-steps", type=int, default=20, help="DDRM steps of the demo")
    parser.add_argument("--no-table", action="store_true", help="skip the measurements (with --demo: the demo only)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return
    if not args.no_table:
        print(f"sr4, σ_y = {SIGMA_Y}, {args.steps} steps, embedded prior, "
              f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n{HEADER}", flush=True)
        measure(args.steps)
    if args.demo is not None:
        demo(args.demo, args.demo_steps)


if __name__ == "__main__":
    main()
