"""Time, memory and quality of tiled DDRM (ddrm_lightning.sampling.tiles): settings, photo sizes, batches.

    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py --out /tmp/tiles.md  # all sections (~25 min)
    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py --sections sizes     # the README's table (~3 min)
    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py --sections none --demo /tmp/tiles_demo  # crops (~5 min)
    # the overlap rule on four photographs the embedded prior never saw (apt-get install mate-backgrounds; ~40 min):
    OMP_NUM_THREADS=1 python benchmarks/tiles_memory.py --sections settings --photos 512x768 1024x1536 \
        --overlaps 16 8 --no-today --sources held-out

Sections (``--sections``, any of them):

- ``settings``: today's tiled path (``fp32``: float32, contiguous, overlap SIZE/4, 8 tiles per call)
  against the fast path (``fast``: ``precision auto`` — bf16 autocast of the network where the CPU
  computes bf16 natively — channels-last, ``tile_batch auto``) at overlaps SIZE/4, SIZE/8, SIZE/16, on
  the photo at 512×768 and 1024×1536, 20 steps: CPU s per megapixel and step, whole-photo PSNR, seam
  contrast at the tile edges (and the original's at the same lines), the ratio to today's cost; then
  the overlap rule of issue #24 over every photo and size. ``--sources`` takes photographs instead of
  the astronaut.
- ``sizes``: the default (fast, overlap and batch auto) on photos of about 0.4, 1 and 4 megapixels
  (2 steps; a step's cost is what matters), today's path at 1 MP beside it, and ε ≡ 0 (the sampler
  alone) at each size: time of a 20-step sr4 restoration, extrapolated to 12 MP, and memory.
- ``batches``: the network alone on 64×64 tiles, CPU s per tile for 4 … 48 tiles per call, fp32 and
  the fast path: the measurement behind ``tile_batch auto``'s budget.

Every restoration runs in its own process, with one torch thread, so ``getrusage``'s peak RSS and CPU
time are its own. A process builds the photo (scikit-image's astronaut, resized to the photo height,
reflect-padded to the width), y = sr4(x) + σ₀n with σ_y = 0.05, loads the embedded prior, notes its
peak RSS, then restores with DDRM (η = 0.85, η_b = 1, clip_denoised) through
``restoration.restore_batch`` (the sweep's own path; only the ε-network and its precision differ)
and notes the peak again: "growth" is the rise of the peak while restoring.
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
TILE = 64
TODAY = {"path": "fp32", "overlap": TILE // 4, "max_batch": 8, "shift": False}  # before issue #24
DEFAULT = {"path": "fast", "overlap": None, "max_batch": "auto", "shift": True}  # the package's defaults
OVERLAPS = (TILE // 4, TILE // 8, TILE // 16)
PATHS = ("fp32", "fast")
NETWORKS = ("tiled", "whole", "none")
SECTIONS = ("settings", "sizes", "batches")
# Photo sizes (height, width): 2:3, tile edges on sr4's 4-pixel blocks.
SETTINGS_PHOTOS = ((512, 768), (1024, 1536))
SIZES_PHOTOS = ((512, 768), (832, 1248), (1664, 2496))
STEPS_FULL, STEPS_TIMING = 20, 2
ASTRONAUT = "astronaut"
# Photographs held out of the embedded prior's training (benchmarks/prior_validation.py's), at full
# resolution (1920×1280 to 2560×1600): --sources takes them for the overlap rule on real large photos.
HELD_OUT = tuple(f"/usr/share/backgrounds/mate/nature/{n}.jpg" for n in ("LadyBird", "Storm", "TwoWings", "Garden"))
RULE_DB, RULE_SEAM = 0.02, 1.05  # issue #24: the cheapest overlap within 0.02 dB of SIZE/4, seam contrast ≤ 1.05


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def photo(height: int, width: int, source: str = ASTRONAUT):
    """A photo in model space [-1, 1], (1, 3, height, width). The astronaut (scikit-image, 512²) is
    resized to height × height (antialiased) and reflect-padded left and right to the width, so its
    pixels are the photo's; a file (a large photograph) is resized to cover height × width and
    centre-cropped to it."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from skimage import data

    if source != ASTRONAUT:
        image = Image.open(source).convert("RGB")
        scale = max(height / image.height, width / image.width)
        size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        left, top = (image.width - width) // 2, (image.height - height) // 2
        image = image.crop((left, top, left + width, top + height))
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)
    image = Image.fromarray(data.astronaut())
    if image.height != height:
        image = image.resize((height, height), Image.Resampling.LANCZOS)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1).unsqueeze(0)
    pad = width - x.shape[-1]
    if pad < 0 or pad >= x.shape[-1]:
        raise ValueError(f"width {width} must be in [{height}, {2 * height}) for a {height}-pixel-high photo")
    return F.pad(x, (pad // 2, pad - pad // 2, 0, 0), mode="reflect")


def fast_context():
    """What ``precision auto`` gives the network on this CPU (restore.py's default): bf16 autocast
    where bf16 is native, else none; and the name of that precision."""
    import torch

    from ddrm_lightning.restoration import precision as policy

    dtype = policy.network_dtype(policy.AUTO, torch.device("cpu"))
    return policy.autocast_factory("cpu", dtype), "bf16-mixed" if dtype == torch.bfloat16 else "32-true"


def restore(height: int, width: int, network: str = "tiled", steps: int = STEPS_FULL, seed: int = 0,
            path: str = "fast", overlap: int | None = None, max_batch: int | str = "auto", shift: bool = True,
            source: str = ASTRONAUT):
    """(restoration, y, x, operator, info) of one sr4 restoration of the photo with the embedded prior,
    through ``restoration.restore_batch`` (the sweep's own path): ``path`` ``fp32`` runs the network in
    float32 and contiguous, ``fast`` as restore.py does by default (precision auto, channels-last)."""
    import torch

    from ddrm_lightning.models import load_model
    from ddrm_lightning.operators import Degradation, build_operator
    from ddrm_lightning.randomness import SampleRandomness
    from ddrm_lightning.restoration import Denoiser, SamplerSettings, restore_batch
    from ddrm_lightning.restoration.loading import assemble_denoiser, resolve_tiling, tiling_settings
    from ddrm_lightning.sampling.tiles import tile_grid

    if network not in NETWORKS or path not in PATHS:
        raise ValueError(f"network must be one of {NETWORKS} and path one of {PATHS}, got {network!r}, {path!r}")
    torch.set_num_threads(1)
    x = photo(height, width, source)
    degradation = Degradation(build_operator("sr4", 3, height, width), SIGMA_Y)
    loaded = load_model("embedded")
    tiling = resolve_tiling(tiling_settings(TILE, overlap, max_batch), loaded.image_size) if network == "tiled" else None
    fast = path == "fast"
    prior: Denoiser = assemble_denoiser(loaded, channels_last=fast, tiling=tiling)[0]
    precision = "32-true"
    if fast:
        prior.network_context, precision = fast_context()
    if network == "none":
        prior.network = lambda x_t, t, labels=None: torch.zeros_like(x_t)
    if tiling:
        prior.network.shift = shift
    settings = SamplerSettings(steps=steps, eta=0.85, eta_b=1.0, clip_denoised=True, baselines=())
    before = _peak_mib()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = restore_batch(prior, degradation, x, SampleRandomness.from_ids(seed, ["astronaut"]), settings)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    out = result.restored
    mse = float((((out.clamp(-1, 1) - x) / 2) ** 2).mean())
    batches = sorted(set(getattr(prior.network, "_auto_batches", {}).values()))
    info = {
        "source": Path(source).stem, "height": height, "width": width, "network": network, "path": path,
        "precision": precision,
        "steps": steps, "overlap": tiling[1] if tiling else None,
        "max_batch": (batches[0] if len(batches) == 1 else max_batch) if tiling else None,
        "shift": shift if tiling else None,
        "tiles": "/".join(str(len(tile_grid(height, width, TILE, tiling[1], s))) for s in (False, True)[: 1 + shift])
        if tiling else 1,
        "seconds": seconds, "cpu_seconds": cpu_seconds, "peak_before_mib": before, "peak_mib": _peak_mib(),
        "consistency": float(result.consistency[settings.method][0]),
        "psnr": 10 * math.log10(1.0 / mse),
        "seam": max(seam_contrast(out.clamp(-1, 1), TILE, tiling[1], shifted=s) for s in (False, True)[: 1 + shift])
        if tiling else None,
        # The same lines of the original: a real photograph's own content gives 0.98-1.12 there.
        "seam_original": max(seam_contrast(x, TILE, tiling[1], shifted=s) for s in (False, True)[: 1 + shift])
        if tiling else None,
    }
    return out, result.y, x, degradation.operator, info


def _child(spec: str) -> None:
    if spec.startswith("batches:"):
        print(json.dumps(network_batches(json.loads(spec.split(":", 1)[1]))))
        return
    *_, info = restore(**json.loads(spec))
    print(json.dumps(info))


def run_child(spec: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(height: int, width: int, steps: int, network: str = "tiled", **setting) -> dict:
    return run_child(json.dumps({"height": height, "width": width, "network": network, "steps": steps, **setting}))


def _megapixels(r: dict) -> float:
    return r["height"] * r["width"] / 1e6


def cost(r: dict) -> float:
    """CPU seconds per megapixel and step."""
    return r["cpu_seconds"] / r["steps"] / _megapixels(r)


def _growth(r: dict) -> float:
    return max(r["peak_mib"] - r["peak_before_mib"], 0.0)


def _setting(r: dict) -> str:
    if r["network"] == "none":
        return "ε ≡ 0 (sampler only)"
    what = f"{r['path']} ({r['precision']}{', channels-last' if r['path'] == 'fast' else ''})"
    if r["network"] == "whole":
        return f"{what}, whole image"
    return f"{what}, overlap {r['overlap']}{', shifted every other step' if r['shift'] else ''}, {r['max_batch']} tiles per call"


SETTINGS_HEADER = ("| photo | setting | tiles | CPU s / MP / step | × today's cost | PSNR (dB) | ΔPSNR | seam contrast "
                   "(the original's) | consistency |\n|---|---|---|---|---|---|---|---|---|")


def settings_section(steps: int, photos=SETTINGS_PHOTOS, overlaps=OVERLAPS, emit=print, today: bool = True,
                     sources=(ASTRONAUT,)) -> list[dict]:
    """Today's tiled path against the fast path at every overlap, per source photo and size; today's
    only at the first size of the first source (the slowest row; the overlaps' comparison needs only
    the fast rows). Ends with the overlap rule applied to the mean over every photo and size."""
    emit(f"\n### Settings: sr4, σ_y = {SIGMA_Y}, {steps} steps, embedded prior, tile {TILE}\n\n{SETTINGS_HEADER}")
    rows = []
    for j, source in enumerate(sources):
        for i, (height, width) in enumerate(photos):
            settings = ([TODAY] if i == j == 0 and today else []) + [dict(DEFAULT, overlap=o) for o in overlaps]
            group = []
            for setting in settings:
                group.append(measure(height, width, steps, source=source, **setting))
                emit(settings_row(group))
            rows += group
    emit(overlap_rule(rows))
    return rows


def settings_row(group: list[dict]) -> str:
    """The table row of the group's last measurement, against today's and fast SIZE/4 of its group."""
    base = next((g for g in group if g["path"] == "fp32"), None)
    ref = next((g for g in group if g["path"] == "fast" and g["overlap"] == TILE // 4), None)
    r = group[-1]
    ratio = f"{cost(r) / cost(base):.2f}" if base else "—"
    delta = f"{r['psnr'] - ref['psnr']:+.3f} vs fast SIZE/4" if ref and r is not ref else "—"
    if base and r is not base:
        delta = f"{r['psnr'] - base['psnr']:+.3f} vs today" + (f", {delta}" if delta != "—" else "")
    return (f"| {r['source']} {r['height']}×{r['width']} | {_setting(r)} | {r['tiles']} | {cost(r):.2f} | {ratio} | "
            f"{r['psnr']:.2f} | {delta} | {r['seam']:.3f} ({r['seam_original']:.3f}) | {r['consistency']:.4f} |")


def overlap_rule(rows: list[dict]) -> str:
    """Issue #24's rule on the fast rows: per overlap, the mean PSNR change against SIZE/4 over every
    photo and size, the worst seam contrast (divided by the original photo's at the same lines, which
    a real photograph's content alone puts anywhere in 0.98-1.12) and the mean cost; the cheapest
    overlap within ``RULE_DB`` of SIZE/4 whose seam contrast stays ≤ ``RULE_SEAM`` is the default."""
    fast = [r for r in rows if r["path"] == "fast" and r["network"] == "tiled"]
    ref = {(r["source"], r["height"], r["width"]): r for r in fast if r["overlap"] == TILE // 4}
    lines = ["\n| overlap | photos | mean ΔPSNR vs SIZE/4 (dB) | worst ΔPSNR | worst seam contrast | mean CPU s / MP / step | "
             "within the rule |", "|---|---|---|---|---|---|---|"]
    passing = []
    for overlap in sorted({r["overlap"] for r in fast}, reverse=True):
        mine = [r for r in fast if r["overlap"] == overlap and (r["source"], r["height"], r["width"]) in ref]
        if not mine:
            continue
        deltas = [r["psnr"] - ref[(r["source"], r["height"], r["width"])]["psnr"] for r in mine]
        mean_delta, seam = sum(deltas) / len(deltas), max(r["seam"] / r["seam_original"] for r in mine)
        ok = mean_delta >= -RULE_DB and seam <= RULE_SEAM
        passing += [(sum(cost(r) for r in mine) / len(mine), overlap)] if ok else []
        lines.append(f"| {overlap} | {len(mine)} | {mean_delta:+.3f} | {min(deltas):+.3f} | {seam:.3f} | "
                     f"{sum(cost(r) for r in mine) / len(mine):.2f} | {'yes' if ok else 'no'} |")
    if passing:
        lines.append(f"\nRule (cheapest overlap within {RULE_DB} dB of SIZE/4 on average, seam contrast ≤ {RULE_SEAM}): "
                     f"overlap {min(passing)[1]}")
    return "\n".join(lines)


SIZES_HEADER = ("| photo | megapixels | setting | tiles | CPU s / MP / step | sr4, 20 steps (CPU min) | peak RSS growth (MiB) "
                "| network's share (MiB) |\n|---|---|---|---|---|---|---|---|")


def sizes_section(steps: int, photos=SIZES_PHOTOS, emit=print) -> list[dict]:
    """The default tiled path per photo size, today's beside it at about 1 MP, the sampler alone at
    each size; then 1, 4 and 12 MP projected from the largest measured photo."""
    emit(f"\n### Photo sizes: sr4, σ_y = {SIGMA_Y}, {steps} steps timed (a 20-step restoration is 20 of them)\n\n"
         f"{SIZES_HEADER}")
    rows = []
    for i, (height, width) in enumerate(photos):
        group = [measure(height, width, steps, network="none", path="fast"), measure(height, width, steps, **DEFAULT)]
        if i == 1:
            group.append(measure(height, width, steps, **TODAY))
        for r in group:
            share = "—" if r["network"] == "none" else f"{_growth(r) - _growth(group[0]):.0f}"
            minutes = cost(r) * _megapixels(r) * 20 / 60
            emit(f"| {height}×{width} | {_megapixels(r):.2f} | {_setting(r)} | {r['tiles'] if r['network'] == 'tiled' else '—'} | "
                 f"{cost(r):.2f} | {minutes:.2f} | {_growth(r):.0f} | {share} |")
        rows += group
    emit(projection(rows))
    return rows


def projection(rows: list[dict]) -> str:
    """The README's table: 20-step sr4 time and memory per photo size, from the largest measured photo
    (time and the sampler's memory grow with the pixels; the network's memory does not)."""
    tiled = [r for r in rows if r["network"] == "tiled" and r["path"] == "fast"]
    sampler = [r for r in rows if r["network"] == "none"]
    largest = max(tiled, key=_megapixels)
    alone = max(sampler, key=_megapixels)
    network_mib = max(_growth(r) - _growth(s) for r in tiled for s in sampler
                      if (s["height"], s["width"]) == (r["height"], r["width"]))
    per_mp_mib = _growth(alone) / _megapixels(alone)
    lines = [f"\nProjected from the {largest['height']}×{largest['width']} photo ({_megapixels(largest):.1f} MP, "
             f"{cost(largest):.2f} CPU s per MP and step; the sampler {per_mp_mib:.0f} MiB per MP, the network "
             f"≤ {network_mib:.0f} MiB whatever the size):\n",
             "| photo | sr4, 20 steps: CPU time (one core) | memory while restoring (MiB) |",
             "|---|---|---|"]
    for megapixels in (1, 4, 12):
        minutes = cost(largest) * megapixels * 20 / 60
        lines.append(f"| {megapixels} MP | {minutes:.1f} min | {per_mp_mib * megapixels + network_mib:.0f} |")
    return "\n".join(lines)


BATCHES = (1, 4, 8, 12, 16, 24, 32, 48)


def network_batches(spec: dict) -> dict:
    """CPU seconds per 64×64 tile of the embedded prior's network, per tiles per call, and the
    largest activation of one tile, for one path."""
    import torch

    from ddrm_lightning.models import load_model
    from ddrm_lightning.sampling.tiles import batch_for, largest_activation

    torch.set_num_threads(1)
    fast = spec["path"] == "fast"
    network = load_model("embedded").eps_model().requires_grad_(False).eval()
    context, precision = fast_context() if fast else ((lambda: torch.autocast("cpu", enabled=False)), "32-true")
    if fast:
        network = network.to(memory_format=torch.channels_last)
    per_tile = {}
    with torch.no_grad(), context():
        for batch in spec["batches"]:
            x = torch.randn(batch, 3, TILE, TILE, generator=torch.Generator().manual_seed(batch))
            x = x.contiguous(memory_format=torch.channels_last) if fast else x
            t = torch.full((batch,), 500)
            network(x, t)  # warm-up
            calls = max(2, spec["tiles"] // batch)
            start = time.process_time()
            for _ in range(calls):
                network(x, t)
            per_tile[batch] = (time.process_time() - start) / (calls * batch)
        _, largest = largest_activation(network, x[:1], t[:1])
    return {"path": spec["path"], "precision": precision, "per_tile": per_tile, "largest": largest,
            "auto": batch_for(largest, "cpu")}


def batches_section(emit=print) -> list[dict]:
    rows = [run_child("batches:" + json.dumps({"path": path, "batches": BATCHES, "tiles": 192})) for path in PATHS]
    emit("\n### The network alone: CPU ms per 64×64 tile by tiles per call (1 thread)\n\n"
         "| path | largest activation of a tile (MiB) | tiles per call of `auto` | "
         + " | ".join(str(b) for b in BATCHES) + " |\n|---|---|---|" + "---|" * len(BATCHES))
    for r in rows:
        best = min(r["per_tile"].values())
        cells = [f"**{1e3 * v:.1f}**" if v == best else f"{1e3 * v:.1f}" for v in r["per_tile"].values()]
        emit(f"| {r['path']} ({r['precision']}) | {r['largest'] / 2**20:.2f} | {r['auto']} | " + " | ".join(cells) + " |")
    return rows


def seam_contrast(image, tile: int = TILE, overlap: int = TILE // 4, period: int = 4, shifted: bool = False) -> float:
    """Mean |neighbour difference| across the tile edges of the grid / across the other lines of the
    same phase modulo ``period`` (sr4's block edges carry more contrast than block interiors in any
    sr4 restoration, so an edge is compared with lines of its own phase): 1 means the tile edges are
    no different from other lines like them."""
    import torch

    from ddrm_lightning.sampling.tiles import tile_grid

    height, width = image.shape[-2:]
    corners = tile_grid(height, width, tile, overlap, shifted)
    edge_sum = other_sum = 0.0
    for size, starts, diff in (
        (height, {c[0] for c in corners}, (image[..., 1:, :] - image[..., :-1, :]).abs().mean(dim=(0, 1, 3))),
        (width, {c[1] for c in corners}, (image[..., 1:] - image[..., :-1]).abs().mean(dim=(0, 1, 2))),
    ):
        edges = sorted({e for s in starts for e in (s, s + tile) if 0 < e < size})
        lines = torch.arange(1, size)
        for e in edges:  # diff[e - 1] is the difference across line e
            same_phase = (lines % period == e % period) & ~torch.isin(lines, torch.tensor(edges))
            edge_sum += float(diff[e - 1])
            other_sum += float(diff[same_phase].mean())
    return edge_sum / other_sum


def demo(folder: Path, steps: int) -> None:
    """Before/after 100 % crops of the astronaut at 512×768 (fp32, tiles 64/16 as docs/tiles_demo.png):
    observed | whole-image DDRM | hard tiles (overlap 0) | blended tiles | original."""
    import numpy as np
    import torch
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    tiled, y, x, op, info_t = restore(512, 768, "tiled", steps, **TODAY)
    whole, *_, info_w = restore(512, 768, "whole", steps, path="fp32")
    hard, *_, info_h = restore(512, 768, "tiled", steps, **dict(TODAY, overlap=0))
    observed = op.observed(y)

    def to_uint8(image: torch.Tensor) -> np.ndarray:
        return (((image[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())

    top, left, size = 40, 240, 224  # the face and helmet; spans several tile borders (tile stride 48)
    gap = np.full((size, 8, 3), 255, dtype=np.uint8)
    panels = []
    for image in (observed, whole, hard, tiled, x):
        panels += [to_uint8(image)[top : top + size, left : left + size], gap]
    Image.fromarray(np.concatenate(panels[:-1], axis=1)).save(folder / "astronaut_sr4_crop.png")
    labels = ("observed (bicubic)", "whole image", "hard tiles (no overlap)", f"tiles {TILE}, overlap {TODAY['overlap']}",
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
    overlap = TODAY["overlap"]
    print(f"seam contrast at the {TILE}/{overlap} tile edges (1 = like other sr4 block edges): "
          f"tiled {seam_contrast(tiled.clamp(-1, 1), overlap=overlap):.3f}, "
          f"whole-image {seam_contrast(whole.clamp(-1, 1), overlap=overlap):.3f}, "
          f"original {seam_contrast(x, overlap=overlap):.3f}; hard tiles at their {TILE}/0 edges "
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
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=[*SECTIONS, "none"],
                        help="what to measure (default: all)")
    parser.add_argument("--steps", type=int, default=STEPS_FULL, help="DDRM steps of the settings section")
    parser.add_argument("--timing-steps", type=int, default=STEPS_TIMING, help="DDRM steps of the sizes section")
    parser.add_argument("--photos", nargs="+", default=[f"{h}x{w}" for h, w in SETTINGS_PHOTOS],
                        help="photo sizes HxW of the settings section (today's path runs on the first)")
    parser.add_argument("--overlaps", nargs="+", type=int, default=list(OVERLAPS), help="overlaps of the settings section")
    parser.add_argument("--sources", nargs="+", default=[ASTRONAUT],
                        help=f"photos of the settings section: {ASTRONAUT} (padded), image files (resized and "
                             "centre-cropped to each size) or held-out (four photographs the embedded prior never saw, "
                             "apt-get install mate-backgrounds)")
    parser.add_argument("--no-today", action="store_true", help="settings section without today's path")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this Markdown file")
    parser.add_argument("--demo", type=Path, default=None, help="also write before/after crops to this folder")
    parser.add_argument("--demo-steps", type=int, default=20, help="DDRM steps of the demo")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return
    lines = []

    def emit(text: str) -> None:
        print(text, flush=True)
        lines.append(text)
        if args.out is not None:
            args.out.write_text("\n".join(lines) + "\n")

    emit(f"Tiled sr4 with the embedded prior, one torch thread (OMP_NUM_THREADS="
         f"{os.environ.get('OMP_NUM_THREADS', 'unset')}), {time.strftime('%Y-%m-%d')}; "
         f"precision auto on this CPU: {fast_context()[1]}")
    if "batches" in args.sections:
        batches_section(emit)
    if "settings" in args.sections:
        photos = [tuple(int(v) for v in size.split("x")) for size in args.photos]
        settings_section(args.steps, photos, args.overlaps, emit=emit, today=not args.no_today,
                         sources=[s for name in args.sources for s in (HELD_OUT if name == "held-out" else [name])])
    if "sizes" in args.sections:
        sizes_section(args.timing_steps, emit=emit)
    if args.demo is not None:
        demo(args.demo, args.demo_steps)


if __name__ == "__main__":
    main()
