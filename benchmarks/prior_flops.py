"""Network work of a prior: GFLOP per tile and per 128×128 photo and task, counted, not estimated.

    python benchmarks/prior_flops.py embedded configs/train/v5/n5_all.yaml /root/ddrm_runs/v5_x/prior.pt

Each prior is a checkpoint (``embedded``, a file) or a train.py config (its network, freshly
initialised: the count does not depend on the weights). ``torch.utils.flop_counter.FlopCounterMode``
counts (a) one network pass at the prior's training size (the "GFLOP per tile" of docs/embedded_prior.md)
and (b) a whole ``restore()`` of one photo of ``--size`` (default 128, the demo's crop) with the demo's
settings: the embedded prior's plan (two samples of 14 steps), tiles at the prior's own size (``tile="auto"``: a prior
trained at 128² restores a 128×128 photo in one pass; ``--tile none``: every prior untiled). (b) is
the issue #32 bar (≤ 250 GFLOP per photo and task); "passes" is (b) / (a), the network passes it took in tile-size units.
``--samples K`` / ``--steps N`` count another plan (one of them given: the other 1 sample / 25 steps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
import yaml
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's package (a candidate may need its network code)


def _network_of(prior: str, work: Path) -> str:
    """A checkpoint path or name for ``prior``; a train config becomes a freshly initialised export."""
    if not prior.endswith((".yaml", ".yml")):
        return prior
    from ddrm_lightning.models import build_network, linear_betas, save_network

    model = yaml.safe_load(Path(prior).read_text())["model"]
    if "network" not in model:
        raise SystemExit(f"{prior}: no model.network (a fine-tuning config: give its init_from checkpoint instead)")
    family = model.get("family", "ddpm")
    network = build_network(family, model["network"])
    return str(save_network(work / f"{Path(prior).stem}.pt", network, family, model["network"], linear_betas()))


def count(prior: str, size: int = 128, task: str = "sr4", steps: int | None = None, tile: int | str | None = "auto",
          samples: int | None = None) -> dict:
    """Parameters, GFLOP of one pass at the prior's size, and GFLOP of one ``restore()`` of a size² photo
    (all ``samples`` of it)."""
    from ddrm_lightning import restore
    from ddrm_lightning.api import load_prior
    from ddrm_lightning.restoration.plan import resolved_plan

    # every prior at the embedded prior's plan: a candidate's file would otherwise get the paper's
    steps, samples, _ = resolved_plan("embedded", "ddrm", steps, samples, None)
    with tempfile.TemporaryDirectory() as work:
        denoiser = load_prior(_network_of(prior, Path(work)))
    network, side = denoiser.network.eval(), int(denoiser.image_size)
    x = torch.zeros(1, network.in_channels, side, side)
    # FlopCounterMode has no formula for the CPU's fused attention kernel, which scaled_dot_product_attention
    # picks for some shapes (a whole 128² photo, not a batch of 64² tiles): its matmuls would go uncounted.
    # The math backend computes the same attention as matmuls, which are counted.
    with sdpa_kernel(SDPBackend.MATH):
        with torch.no_grad(), FlopCounterMode(display=False) as one:
            network(x, torch.tensor([500]))
        photo = torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))
        with FlopCounterMode(display=False) as whole:
            restore(photo, task, prior=denoiser, steps=steps, tile=tile, precision="fp32", samples=samples)
    per_tile, per_photo = one.get_total_flops() / 1e9, whole.get_total_flops() / 1e9
    return {"prior": prior, "tile": side, "params_m": sum(p.numel() for p in network.parameters()) / 1e6,
            "gflop_tile": per_tile, "steps": steps, "samples": samples, "gflop_photo": per_photo, "passes": per_photo / per_tile}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("priors", nargs="+", help="checkpoints (embedded, files) or train.py configs")
    parser.add_argument("--size", type=int, default=128, help="side of the photo restored (default 128)")
    parser.add_argument("--task", default="sr4")
    parser.add_argument("--steps", type=int, help="DDRM steps per sample (default: the embedded prior's plan)")
    parser.add_argument("--tile", default="auto", help="auto (the prior's size, the default), none (whole photo) or a size")
    parser.add_argument("--samples", type=int, help="restorations per photo (--model.samples; default: the plan's)")
    args = parser.parse_args(argv)
    tile = None if args.tile == "none" else args.tile if args.tile == "auto" else int(args.tile)
    rows = [count(p, args.size, args.task, args.steps, tile, args.samples) for p in args.priors]
    print(f"| prior | tile | params (M) | GFLOP per tile | samples × steps | GFLOP per {args.size}² photo and task | passes |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['prior']} | {r['tile']}² | {r['params_m']:.1f} | {r['gflop_tile']:.2f} | {r['samples']} × {r['steps']} | "
              f"{r['gflop_photo']:.0f} | {r['passes']:.1f} |")
    sys.stdout.flush()
    return rows


if __name__ == "__main__":
    main()
