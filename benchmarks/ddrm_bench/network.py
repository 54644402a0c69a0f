"""The prior under test: a zoo architecture with random weights (exported once) or a checkpoint file,
built by the package's own factory (``restoration.build_restorer``) exactly as restore.py builds it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ddrm_lightning.models import ZOO, build_network, save_network
from ddrm_lightning.models.export import EXPORT_FORMAT
from ddrm_lightning.restoration import RestorationSettings, Restorer, build_restorer

from .common import synchronize

ETA, ETA_B = 0.85, 1.0  # the paper's

EpsFn = Callable[[Tensor, Tensor], Tensor]


def random_prior(config: str, work_dir: Path, seed: int = 0) -> Path:
    """The zoo architecture ``config`` with seeded random weights, exported with ``save_network`` (cached)."""
    if config not in ZOO:
        raise SystemExit(f"--config {config}: not a zoo entry; allowed: {', '.join(ZOO)} (or give --checkpoint)")
    entry = ZOO[config]
    if entry.family == "adm_classifier":
        raise SystemExit(f"--config {config} is a classifier, not a diffusion network")
    path = Path(work_dir) / "priors" / f"{config}-random-seed{seed}.pt"
    if path.is_file() and _export_matches(path, entry.family, entry.config_dict()):
        return path
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(entry.family, entry.config_dict())
    save_network(path, network, entry.family, entry.config_dict(), entry.betas())
    return path


def _export_matches(path: Path, family: str, config: dict) -> bool:
    try:
        export = torch.load(path, map_location="meta", weights_only=True)
    except Exception:  # an unreadable or half-written cache file is rebuilt
        return False
    return export.get("format") == EXPORT_FORMAT and export.get("family") == family and export.get("config") == config


def build_restorer_for(prior: str | Path, device: torch.device, *, precision: str, channels_last: bool,
                       compile: bool, steps: int) -> Restorer:
    """The prior as restore.py runs it, built by the one factory (``restoration.build_restorer``) from
    ``RestorationSettings`` (DDRM at the paper's η, η_b; the whole image, untiled), on ``device``: what a
    benchmark measures is then exactly what the package runs, and a benchmark swaps only the piece it times."""
    settings = RestorationSettings(prior=str(prior), steps=steps, eta=ETA, eta_b=ETA_B, precision=precision,
                                   channels_last=channels_last, compile=compile, tile=None)
    return build_restorer(settings).to(device)


def eps_function(restorer: Restorer, labels: Tensor | None) -> EpsFn:
    """``(x_t, t) -> ε`` as the sampler calls it (``Denoiser.eps``: the restorer's precision, channels-last)."""
    denoiser = restorer.denoiser
    return lambda x, t: denoiser.eps(x, t, labels)


class Recorder:
    """Wraps an ε-function and keeps the (x_t, t) it was called with, to replay the forwards alone."""

    def __init__(self, eps: EpsFn) -> None:
        self.eps = eps
        self.inputs: list[tuple[Tensor, Tensor]] = []

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.inputs.append((x, t))
        return self.eps(x, t)

    def replay(self) -> None:
        for x, t in self.inputs:
            self.eps(x, t)


class Stopwatch:
    """Wraps an ε-function and adds up the time spent inside it during one restoration.

    Reads the process CPU time on the CPU (what other processes cannot inflate) and the
    wall clock on CUDA, synchronising around each call: the sampler needs ε before it
    can go on anyway, so the synchronisation costs only a kernel-launch latency per step.
    """

    def __init__(self, eps: EpsFn, device: torch.device) -> None:
        self.eps, self.device = eps, device
        self.clock = time.process_time if device.type == "cpu" else time.perf_counter
        self.inside = 0.0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        synchronize(self.device)
        start = self.clock()
        out = self.eps(x, t)
        synchronize(self.device)
        self.inside += self.clock() - start
        return out


def class_labels(loaded, batch: int, device: torch.device) -> Tensor | None:
    """Labels for a class-conditional network (class 0 for every sample), None otherwise."""
    return torch.zeros(batch, dtype=torch.long, device=device) if loaded.num_classes else None
