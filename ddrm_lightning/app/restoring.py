"""One restoration of the page: the plan said before any work (output size, time and memory from the size
guard, and restore.py's refusals), the run itself through ``restore()`` with progress and a stop between
steps, and what the page shows after (the PNG at full size, samples, the uncertainty map).

Nothing here imports gradio: the page (``app.page``) only wires these to its controls.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..api import load_prior, restore
from ..callbacks.progress import step_text
from ..sweep.size_guard import (GRADIENT_METHODS, MAX_OUTPUT_MEGAPIXELS, NetworkCost, denoiser_cost,
                                duration_text, gib_text, resources)
from ..data.decoding import decode_image, load_record, probe_size
from ..data.samples import to_model_tensor
from ..models.embedded import EMBEDDED_DDRM_STEPS, is_embedded
from ..operators import check_image_measurement, image_size_behind
from ..restoration.auto_sigma import auto_sigma_y
from ..restoration.core import listen_to_steps, stop_listening
from ..restoration.precision import resolve_auto
from ..sampling import METHODS
from ..sampling.methods import method_defaults
from ..restoration.task import NOISELESS_OPERATORS
from ..sampling.tiles import TILE_HOOK, default_overlap

# The side an untiled prior's cost is measured at (the size guard's MEASURED_SIDE_LIMIT).
COST_SIDE = 128

AUTO = "auto"
MAX_SAMPLES = 8
# (fraction done, the line to show: step, tile, time left)
ProgressCallback = Callable[[float, str], None]


class Stopped(Exception):
    """The user asked to stop; raised by the step listener at the next step (or tile batch)."""


def parse_sigma(text) -> float | str:
    """``auto`` or a noise level in [0, 1] (the [0, 1] pixel scale), from the page's field."""
    value = str(text).strip().lower()
    if value in ("", AUTO) or value.startswith(AUTO + " "):  # the field may show "auto (estimated 0.031)"
        return AUTO
    try:
        sigma = float(value)
    except ValueError:
        raise ValueError(f"σ_y must be 'auto' or a number in [0, 1] (the pixel scale), got {text!r}") from None
    if not (math.isfinite(sigma) and 0.0 <= sigma <= 1.0):
        raise ValueError(f"σ_y must be 'auto' or a number in [0, 1] (the pixel scale), got {text!r}")
    return sigma


@dataclass(frozen=True)
class Request:
    """The settings of one restoration, as restore() takes them (steps None: the prior's own count)."""

    task: str
    sigma_y: float | str = AUTO
    method: str = "ddrm"
    steps: int | None = None
    seed: int = 0
    samples: int = 1
    mask: np.ndarray | None = field(default=None, compare=False)  # (H, W) bool, True: the area to fill


@dataclass(frozen=True)
class Plan:
    """What a restoration will cost, said before it starts."""

    height: int
    width: int
    steps: int
    samples: int
    memory_gib: float
    seconds: float | None  # None off the CPU, where the size guard has no measurement

    @property
    def megapixels(self) -> float:
        return self.height * self.width / 1e6

    def text(self) -> str:
        runs = f"{self.steps} steps" + (f" × {self.samples} samples" if self.samples > 1 else "")
        time_part = (f"estimated time {duration_text(self.seconds)} (processor)" if self.seconds is not None
                     else "time not estimated on the GPU")
        return (f"Output {self.width}×{self.height} ({self.megapixels:.2g} megapixels) · {runs} · {time_part} · "
                f"estimated memory {gib_text(self.memory_gib)}")


@dataclass
class Outcome:
    """A finished restoration."""

    restored: Image.Image
    path: Path  # the restored PNG at full size
    before: Image.Image  # the photo at the restoration's size, for the before/after slider
    seconds: float
    sigma_y: float | None  # the σ_y used (the estimate under auto), None where the task takes none
    samples: list[Image.Image] = field(default_factory=list)  # all of them when samples > 1
    uncertainty: np.ndarray | None = None  # (H, W) per-pixel std over the samples, [0, 1] scale

    def summary(self) -> str:
        noise = (" · no σ_y: a JPEG's error is its quantization, read from the file" if self.sigma_y is None
                 else f" · σ_y used {self.sigma_y:.3g}")
        return f"Restored in {duration_text(self.seconds)}{noise} · {self.restored.width}×{self.restored.height} PNG"


class PhotoRestorer:
    """The prior, loaded once, and the one restoration it runs at a time."""

    def __init__(self, prior: str = "embedded", *, workdir: str | Path, device: str | torch.device = "cpu") -> None:
        self.prior_name = str(prior)
        self.device = torch.device(device)
        self.denoiser = load_prior(prior, device=self.device)
        self.workdir = Path(workdir)
        self._one_at_a_time = threading.Lock()
        self._costs: dict[bool, NetworkCost] = {}

    # -- before work -------------------------------------------------------------------------------
    def default_steps(self, method: str = "ddrm") -> int:
        """The steps restore() runs for this prior and method when none are given."""
        if method == "ddrm" and is_embedded(self.prior_name):
            return EMBEDDED_DDRM_STEPS
        return int(method_defaults(method)["timesteps"])

    def tiling(self) -> tuple[int, int] | None:
        """(tile, overlap) restore() runs the network on by default (``tile: auto``), None untiled."""
        if not self.denoiser.image_size:
            return None
        return int(self.denoiser.image_size), default_overlap(int(self.denoiser.image_size))

    def network_cost(self, method: str, tiling: tuple[int, int] | None) -> NetworkCost:
        """The size guard's ``NetworkCost`` of this prior at the precision ``auto`` picks here, measured
        once per kind of call (with or without a backward pass)."""
        gradient = method in GRADIENT_METHODS
        if gradient not in self._costs:
            side, batch = (tiling[0], 4) if tiling else (COST_SIDE, 1)
            precision = resolve_auto(self.device.type)[0]
            self._costs[gradient] = denoiser_cost(self.denoiser, side=side, batch=batch,
                                                  precision="bf16" if precision == "bf16" else "fp32",
                                                  gradient=gradient)
        return self._costs[gradient]

    def plan(self, photo: str | Path, request: Request) -> Plan:
        """Output size, time and memory of ``request`` on ``photo``; ValueError (one line) for what
        restore.py refuses: an unreadable photo, a task that cannot read its measurement from a photo,
        an unknown method, an output above the size limit."""
        if request.method not in METHODS:
            raise ValueError(f"unknown method {request.method!r}; allowed: {', '.join(METHODS)}")
        if not 1 <= request.samples <= MAX_SAMPLES:
            raise ValueError(f"samples must be between 1 and {MAX_SAMPLES}, got {request.samples}")
        if request.steps is not None and request.steps < 1:
            raise ValueError(f"steps must be >= 1, got {request.steps}")
        check_image_measurement(request.task)
        try:
            height, width = probe_size(str(photo))
        except Exception as error:  # noqa: BLE001 - any decoder failure is the photo's
            raise ValueError(f"cannot read the photo: {' '.join(str(error).split()) or type(error).__name__}") from None
        out_height, out_width = image_size_behind(request.task, height, width)
        steps = request.steps or self.default_steps(request.method)
        tiling = self.tiling()
        cost = self.network_cost(request.method, tiling) if self.device.type == "cpu" else None
        memory, seconds = resources(out_height, out_width, steps * request.samples,
                                    tiled=tiling if tiling is not None else False, cost=cost)
        plan = Plan(out_height, out_width, steps, request.samples, memory, seconds)
        if plan.megapixels > MAX_OUTPUT_MEGAPIXELS:
            raise ValueError(f"the output would be {out_width}×{out_height} ({plan.megapixels:.0f} megapixels), above the "
                             f"limit of {MAX_OUTPUT_MEGAPIXELS:g} megapixels that restore.py keeps without --force: "
                             "shrink the photo or choose a smaller upscale")
        return plan

    # -- the work ----------------------------------------------------------------------------------
    def restore(self, photo: str | Path, request: Request, *, on_progress: ProgressCallback | None = None,
                should_stop: Callable[[], bool] = lambda: False) -> Outcome:
        """Restore ``photo`` as ``restore(photo, task, measured=True, ...)`` does with the same settings,
        one restoration at a time; raises ``Stopped`` when ``should_stop`` turns true between steps."""
        plan = self.plan(photo, request)
        params = {}
        if request.mask is not None:
            params["mask"] = ~self._mask_at(request.mask, photo)  # restore() takes the pixels kept
        with self._one_at_a_time:
            sigma_used = self._sigma_used(photo, request)
            started = time.monotonic()
            with _listening(plan, request.method, on_progress, should_stop):
                result = restore(
                    str(photo), request.task, sigma_y=None if sigma_used is None else request.sigma_y, prior=self.denoiser, steps=plan.steps,
                    seed=request.seed, params=params, measured=True, method=request.method,
                    samples=request.samples, device=self.device,
                )
            seconds = time.monotonic() - started
        samples = result if request.samples > 1 else [result]
        restored = samples[0]
        path = self._write(restored, photo, request.task)
        before = decode_image(str(photo), len(restored.getbands()))
        if before.size != restored.size:
            before = before.resize(restored.size, Image.Resampling.NEAREST)
        return Outcome(restored, path, before, seconds, sigma_used, samples=samples if len(samples) > 1 else [],
                       uncertainty=uncertainty(samples) if len(samples) > 1 else None)

    def estimate_sigma(self, photo: str | Path) -> float:
        """σ_y as ``sigma_y="auto"`` takes it: estimated on the photo as restore() decodes it, with its floor
        for a noiseless image (``restoration.auto_sigma``)."""
        path = Path(photo)
        record = load_record(path.name, path, source=str(path), channels=self.denoiser.channels)
        if record.error:
            raise ValueError(record.error)
        return auto_sigma_y(to_model_tensor(record.image), str(path), notify=None)

    def _sigma_used(self, photo, request: Request) -> float | None:
        if request.task in NOISELESS_OPERATORS:
            return None
        return self.estimate_sigma(photo) if request.sigma_y == AUTO else float(request.sigma_y)

    def _mask_at(self, mask: np.ndarray, photo) -> np.ndarray:
        height, width = probe_size(str(photo))
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):  # the editor's canvas at another scale: nearest keeps it binary
            resized = Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height), Image.Resampling.NEAREST)
            mask = np.asarray(resized) > 127
        if not mask.any():
            raise ValueError("paint over the area to fill first (the brush mask is empty)")
        if mask.all():
            raise ValueError("the brush mask covers the whole photo; leave some of it unpainted to fill from")
        return mask

    def _write(self, image: Image.Image, photo, task: str) -> Path:
        folder = self.workdir / "outputs" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        path = folder / f"{Path(photo).stem}_{task}.png"
        image.save(path)
        return path


def uncertainty(samples: list[Image.Image]) -> np.ndarray:
    """Per-pixel standard deviation over the samples, averaged over the channels, on the [0, 1] scale."""
    stack = np.stack([np.asarray(s, dtype=np.float64) / 255.0 for s in samples])
    std = stack.std(axis=0)
    return std.mean(axis=-1) if std.ndim == 3 else std


def uncertainty_image(std: np.ndarray) -> Image.Image:
    """The map as a picture: dark where the samples agree, bright where they differ (scaled to its maximum)."""
    from matplotlib import colormaps

    top = float(std.max())
    scaled = std / top if top > 0 else std
    return Image.fromarray((colormaps["magma"](scaled)[..., :3] * 255 + 0.5).astype(np.uint8))


class _listening:
    """Sampler-step listeners (``restoration.core``) and the tile hook for one run: progress with the
    step, the tile and the time left, and the stop between steps."""

    def __init__(self, plan: Plan, method: str, on_progress: ProgressCallback | None, should_stop) -> None:
        self.plan, self.on_progress, self.should_stop = plan, on_progress, should_stop
        self.label = "DDRM step" if method == "ddrm" else f"{method} step"
        self.steps_done = 0
        self.started = 0.0
        self._token = None

    def __enter__(self):
        self.started = time.monotonic()
        listen_to_steps(self.after_step)
        self._token = TILE_HOOK.set(self.after_tiles)
        self._report(0.0, "starting")
        return self

    def __exit__(self, *exc) -> None:
        stop_listening(self.after_step)
        TILE_HOOK.reset(self._token)

    def after_step(self, step: int, total: int) -> None:
        self.steps_done += 1
        self._stop_if_asked()
        sample = (self.steps_done - 1) // self.plan.steps + 1
        self._report(self.steps_done / self._total(), self._where(sample, step, total))

    def after_tiles(self, done: int, tiles: int) -> None:
        self._stop_if_asked()
        steps = self.plan.steps
        running = self.steps_done % steps + 1
        fraction = (self.steps_done + done / tiles) / self._total()
        self._report(fraction, self._where(self.steps_done // steps + 1, running, steps, done, tiles))

    def _total(self) -> int:
        return self.plan.steps * self.plan.samples

    def _where(self, sample: int, step: int, total: int, tile=None, tiles=None) -> str:
        text = step_text(self.label, step, total, tile, tiles)
        return f"sample {min(sample, self.plan.samples)}/{self.plan.samples} · {text}" if self.plan.samples > 1 else text

    def _stop_if_asked(self) -> None:
        if self.should_stop():
            raise Stopped(f"stopped after {self.steps_done} of {self._total()} steps")

    def _report(self, fraction: float, where: str) -> None:
        if self.on_progress is None:
            return
        elapsed = time.monotonic() - self.started
        if fraction > 0:
            left = f"{duration_text(elapsed * (1 - fraction) / fraction)} left"
        elif self.plan.seconds is not None:
            left = f"estimated {duration_text(self.plan.seconds)} in all"
        else:
            left = ""
        self.on_progress(min(fraction, 1.0), " · ".join(part for part in (where, left) if part))
