"""One batch restored: a plain function of tensors (no Lightning, no files).

``restore_batch`` measures (or reads) y, runs the sampler once per posterior sample with the
samples' own generators, computes the classical baselines, crops padded images back to their
own size and flags samples that went non-finite. Everything the sweep, the Python API and
the benchmarks restore goes through it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..metrics.image import consistency
from ..operators.degradation import Degradation
from ..randomness import SampleRandomness
from ..sampling import METHODS, method_defaults, validate_method, wiener
from .prior import Prior

BASELINES = ("observed", "wiener")


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample: the method (DDRM or another zero-shot sampler, see ``sampling.METHODS``), its
    steps and settings, posterior samples per image and the baselines.

    ``eta`` and ``eta_b`` are DDRM's; another method starts from its published settings
    (``sampling.method_defaults``) with ``timesteps`` steps, and ``method_params`` override any
    method's settings (e.g. ``{"zeta": 0.5}`` for DPS).
    """

    timesteps: int = 20
    eta: float = 0.85
    eta_b: float = 1.0
    clip_denoised: bool = False
    samples: int = 1
    baselines: tuple[str, ...] = BASELINES
    method: str = "ddrm"
    method_params: dict = field(default_factory=dict)

    def sampler_params(self) -> dict:
        """The keyword settings the method's sampler is called with."""
        if self.method == "ddrm":
            base = {"timesteps": int(self.timesteps), "eta": float(self.eta), "eta_b": float(self.eta_b)}
        else:
            base = method_defaults(self.method, int(self.timesteps))
        return {**base, "clip_denoised": bool(self.clip_denoised), **self.method_params}

    def __post_init__(self) -> None:
        validate_method(self.method, self.method_params)
        if "timesteps" in self.method_params:
            raise ValueError("give a method's steps as timesteps (--model.timesteps), not in method_params")
        if isinstance(self.timesteps, bool) or int(self.timesteps) < 1:
            raise ValueError(f"timesteps must be >= 1, got {self.timesteps}")
        if int(self.samples) < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        for name, value in (("eta", self.eta), ("eta_b", self.eta_b)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; allowed: {', '.join(BASELINES)}")


@dataclass
class RestoredBatch:
    """What ``restore_batch`` returns; images (B, C, H, W) in model space, cropped to the images' own size.

    ``methods`` holds the restoration (under ``main``, the method's name) and the baselines; ``extra`` the
    further posterior samples;
    ``degraded`` y made viewable; ``consistency`` ‖Hx̂ − y‖/√m per method (before cropping);
    ``bad_step`` the first step (0-based) where a sample's clean estimate went non-finite, or −1;
    ``failed`` marks samples whose restoration is not usable; ``seconds`` is per image.
    """

    y: Tensor
    methods: dict[str, Tensor]
    degraded: Tensor
    original: Tensor | None
    consistency: dict[str, Tensor]
    bad_step: Tensor
    failed: Tensor
    seconds: float
    extra: list[Tensor] = field(default_factory=list)
    main: str = "ddrm"

    @property
    def restored(self) -> Tensor:
        return self.methods[self.main]


# (step index 1-based, total steps) -> None: progress of the sampler.
StepHook = Callable[[int, int], None]


def restore_batch(
    prior: Prior,
    degradation: Degradation,
    image: Tensor,
    randomness: SampleRandomness,
    settings: SamplerSettings = SamplerSettings(),
    *,
    labels: Tensor | None = None,
    measured: bool = False,
    orig_size: tuple[int, int] | None = None,
    step_hook: StepHook | None = None,
) -> RestoredBatch:
    """Restore a batch of images with DDRM.

    Args:
        prior: the ε-network and its schedule.
        degradation: the operator at the batch's geometry and its noise level.
        image: (B, C, H, W) in [-1, 1]: clean images to degrade, or with ``measured`` the
            measurements themselves as images (``operator.measurement_shape``).
        randomness: the batch's per-sample streams (measurement noise, sampler noise).
        settings: the sampler's settings.
        labels: (B,) class labels for class-conditional priors or classifier guidance.
        measured: ``image`` is y (no ground truth).
        orig_size: (H, W) the images were padded from; results are cropped back to it.
        step_hook: progress callback.
    """
    image = image.float()
    operator = degradation.operator
    if measured:
        y, original = degradation.read(image), None
    else:
        y, original = degradation.measure(image, randomness), image
    start = time.perf_counter()
    restored, bad_step = _sample(prior, degradation, y, randomness, settings, labels, 0, step_hook)
    extra = [_sample(prior, degradation, y, randomness, settings, labels, k, step_hook)[0]
             for k in range(1, settings.samples)]
    if restored.is_cuda:
        torch.cuda.synchronize(restored.device)
    seconds = (time.perf_counter() - start) / image.shape[0]

    methods = {settings.method: restored, **baselines(degradation, y, settings.baselines)}
    scores = {name: consistency(operator.H(x), y) for name, x in methods.items()}
    failed = (bad_step >= 0) | ~torch.isfinite(restored).flatten(1).all(1)
    crop = None if measured or orig_size is None or tuple(orig_size) == tuple(image.shape[-2:]) else tuple(orig_size)
    degraded = operator.measurement_image(y)
    if degraded.shape[-2:] == image.shape[-2:]:
        degraded = crop_to(degraded, crop)
    return RestoredBatch(
        y=y, methods={name: crop_to(x, crop) for name, x in methods.items()}, degraded=degraded,
        original=None if original is None else crop_to(original, crop), consistency=scores,
        bad_step=bad_step, failed=failed, seconds=seconds, extra=[crop_to(x, crop) for x in extra],
        main=settings.method,
    )


def baselines(degradation: Degradation, y: Tensor, names) -> dict[str, Tensor]:
    """The classical restorations of y: ``observed`` (y shown as an image) and ``wiener``."""
    out = {}
    observed = degradation.operator.observed(y)
    if "observed" in names:
        out["observed"] = observed
    if "wiener" in names:
        # λ = σ₀² / (variance of the image), the image's variance estimated from what is observed.
        out["wiener"] = wiener(y, degradation.operator, degradation.sigma_0, observed.flatten(1).var(1))
    return out


def crop_to(x: Tensor, size: tuple[int, int] | None) -> Tensor:
    """The top-left (H, W) of a padded batch (padding is added at the bottom and right)."""
    return x if size is None else x[..., : size[0], : size[1]]


def _sample(prior: Prior, degradation: Degradation, y: Tensor, randomness: SampleRandomness,
            settings: SamplerSettings, labels: Tensor | None, draw: int,
            step_hook: StepHook | None) -> tuple[Tensor, Tensor]:
    """Posterior sample ``draw`` of every row of y, and the first step where a sample went non-finite."""
    device = y.device
    bad_step = torch.full((y.shape[0],), -1, device=device, dtype=torch.long)
    labels = None if labels is None else labels.to(device)

    def eps_model(x: Tensor, t: Tensor) -> Tensor:
        return prior.eps(x, t, labels)

    total = int(settings.sampler_params()["timesteps"])

    def on_step(step: int, t: int, x_t: Tensor, x0: Tensor) -> None:
        finite = torch.isfinite(x0).flatten(1).all(1)
        bad_step.copy_(torch.where(~finite & (bad_step < 0), torch.full_like(bad_step, step), bad_step))
        if step_hook is not None:
            step_hook(step + 1, total)

    params = settings.sampler_params()
    guidance = prior.guidance(labels) if labels is not None else None
    if guidance is not None:
        if settings.method != "ddrm":
            raise ValueError(f"classifier guidance works with method ddrm only, not {settings.method}")
        params["classifier_grad"] = guidance
    # Only the network may run in reduced precision (Prior.eps); the SVD arithmetic stays float32.
    with _no_autocast(device.type):
        x = METHODS[settings.method](
            eps_model, y.float(), degradation.operator, sigma_0=degradation.sigma_0,
            alphas_cumprod=prior.alphas_cumprod.to(device), generator=randomness.generators("sampler", draw),
            callback=on_step, **params,
        )
    return x, bad_step


def _no_autocast(device_type: str):
    try:
        return torch.autocast(device_type, enabled=False)
    except RuntimeError:  # a device type without autocast support
        return contextlib.nullcontext()
