"""The prior under test: a zoo architecture with random weights (exported once) or a checkpoint file,
wrapped exactly as ``DDRMRestorer`` wraps it (channels-last, torch.compile, network-only autocast)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from ddrm_lightning.models import ZOO, build_network, load_model, save_network
from ddrm_lightning.models.export import EXPORT_FORMAT

from .common import network_autocast, synchronize

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


def load_prior(path: str | Path, device: torch.device):
    """(EpsModel on ``device`` in eval mode without gradients, LoadedModel) of a prior file."""
    loaded = load_model(str(path))
    eps_model = loaded.eps_model().to(device)
    eps_model.requires_grad_(False).eval()
    return eps_model, loaded


def accelerate(eps_model: torch.nn.Module, *, channels_last: bool, compile: bool) -> Callable:
    """The network as ``DDRMRestorer.configure_model`` prepares it: channels-last weights, then torch.compile."""
    if channels_last:
        eps_model = eps_model.to(memory_format=torch.channels_last)
    return torch.compile(eps_model) if compile else eps_model


def eps_function(forward: Callable, device: torch.device, precision: str, *, channels_last: bool,
                 labels: Tensor | None) -> EpsFn:
    """``(x_t, t) -> ε`` as the restorer builds it: only the network under autocast, ε returned in float32."""

    def eps(x: Tensor, t: Tensor) -> Tensor:
        with network_autocast(device, precision):
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            return forward(x, t, labels).float()

    return eps


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
