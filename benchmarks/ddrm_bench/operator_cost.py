"""Section ``operators``: V, Vᵀ, U, Uᵀ of every operator against one forward of the CelebA-HQ network."""

from __future__ import annotations

import torch

from ddrm_lightning.models import ZOO, build_network
from ddrm_lightning.operators import build_operator

from .common import best_of, timed


def measure_forward(config: str, batch: int, size: int, device: torch.device, *, runs: int) -> float:
    """Seconds of one fp32 eager forward of the zoo architecture ``config`` (random weights) at ``batch``.

    ``runs`` forwards in all, the first untimed when there are two or more; the fastest timed one counts.
    """
    entry = ZOO[config]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_network(entry.family, entry.config_dict()).to(device).eval().requires_grad_(False)
    x = torch.randn(batch, entry.in_channels, size, size, device=device)
    t = torch.full((batch,), 500, device=device, dtype=torch.long)
    with torch.no_grad():
        if runs <= 1:
            return timed(lambda: network(x, t), device)[0]
        return best_of(lambda: network(x, t), device, warmup=1, repeats=runs - 1)


def measure_transforms(name: str, batch: int, channels: int, size: int, device: torch.device, *,
                       repeats: int) -> dict:
    """Milliseconds of Vᵀx, Vz, Uᵀy, Uz for one operator (fastest of ``repeats`` after a warm-up)."""
    operator = build_operator(name, channels, size, size).to(device)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, channels, size, size, generator=generator).to(device)
    z = torch.randn(batch, operator.n, generator=generator).to(device)
    y = torch.randn(batch, operator.m, generator=generator).to(device)
    times = {}
    with torch.no_grad():
        for label, fn in (("Vt", lambda: operator.Vt(x)), ("V", lambda: operator.V(z)),
                          ("Ut", lambda: operator.Ut(y)), ("U", lambda: operator.U(y))):
            times[f"{label}_ms"] = 1e3 * best_of(fn, device, warmup=2, repeats=repeats)
    return times
