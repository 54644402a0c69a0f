"""One batch restored: a plain function of tensors (no Lightning, no files).

``restore_batch`` measures (or reads) y, runs the sampler once per posterior sample with the
samples' own generators, computes the classical baselines, crops padded images back to their
own size and flags samples that went non-finite. Everything the sweep, the Python API and
the benchmarks restore goes through it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..metrics.image import consistency
from ..operators.degradation import Degradation
from ..randomness import SampleRandomness
from ..sampling import METHODS, method_defaults, validate_method, wiener
from ..sampling.methods import nonlinear_method
from .precision import full_precision
from .denoiser import Denoiser

BASELINES = ("observed", "wiener")
# The classical baseline of a non-linear degradation (jpeg), standing in for Wiener, which needs an SVD.
NONLINEAR_BASELINE = "tv"
# A written picture must explain its measurement up to the noise. The noise n of y = Hx + n has the expected
# norm σ_0·√m (σ_0 = 2σ_y on the model's [-1, 1] scale; its spread, σ_0/√2, is negligible for any picture), so
# ‖H x̂ − y‖/√m of a restoration that explains y is about σ_0, and at most about √2·σ_0 for a posterior sample
# (its own spread in H x̂ adds at most σ_0² per component). Twice the noise's expected norm is "far beyond":
# measured on a 32×32 astronaut with the embedded prior (2026-12-07), DDRM, DDNM+ and ΠGDM stay within
# 1.15·σ_0 on deno, sr4 and deblur, while DDNM on deblur σ_y = 0.1 (the noise amplified into the picture,
# then clipped: PSNR 5) reaches 2.2·σ_0. A noiseless y is allowed a floor of 0.03 (1.5 % of the range; the
# embedded prior leaves 0.012 on inpainting).
CONSISTENCY_FACTOR = 2.0
CONSISTENCY_FLOOR = 0.03
# What the restoration of an image is: its first posterior sample (the paper's), or the mean of its
# ``samples`` posterior samples — a posterior-mean estimate, closer to the photo on average (a sample's
# squared error is about twice the mean's) but softer (docs/embedded_prior.md, "The mean of two samples").
ESTIMATES = ("sample", "mean")


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample: the method (DDRM or another zero-shot sampler, see ``sampling.METHODS``), its
    steps and settings, posterior samples per image, which estimate is the restoration (``ESTIMATES``)
    and the baselines.

    Every method starts from its published settings (``sampling.method_defaults``, steps included);
    ``steps``, ``eta``, ``eta_b`` (None: the published value) and ``method_params`` override them.
    Built from ``RestorationSettings`` by ``build_restorer``.
    A setting the method does not take is an error, never silently dropped.
    """

    steps: int | None = None
    eta: float | None = None
    eta_b: float | None = None
    clip_denoised: bool = False
    samples: int = 1
    estimate: str = "sample"
    baselines: tuple[str, ...] = BASELINES
    method: str = "ddrm"
    method_params: dict = field(default_factory=dict)

    def _given(self) -> dict:
        """The settings given as fields rather than in ``method_params`` (None: not given)."""
        given = {"eta": self.eta, "eta_b": self.eta_b}
        return {name: float(value) for name, value in given.items() if value is not None}

    def sampler_params(self) -> dict:
        """The keyword settings the method's sampler is called with."""
        base = method_defaults(self.method, None if self.steps is None else int(self.steps))
        return {**base, **self._given(), "clip_denoised": bool(self.clip_denoised), **self.method_params}

    def nonlinear_params(self) -> dict:
        """The settings of the method's sampler for a non-linear degradation (jpeg): its published ones
        (``sampling.ddrm_jpeg.PUBLISHED``), the given steps, η, η_b and ``method_params`` over them."""
        _, published = nonlinear_method(self.method)
        steps = {} if self.steps is None else {"timesteps": int(self.steps)}
        return {**published, **steps, **self._given(), "clip_denoised": bool(self.clip_denoised), **self.method_params}

    @property
    def nfe(self) -> int:
        """The network evaluations the method runs (the given ``steps`` or the published count)."""
        return int(self.sampler_params()["timesteps"])

    def __post_init__(self) -> None:
        if "timesteps" in self.method_params:
            raise ValueError("give a method's steps as steps (--model.steps), not in method_params")
        validate_method(self.method, {**self._given(), **self.method_params})
        if self.steps is not None and (isinstance(self.steps, bool) or int(self.steps) < 1):
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if int(self.samples) < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        if self.estimate not in ESTIMATES:
            raise ValueError(f"unknown estimate {self.estimate!r}; allowed: {', '.join(ESTIMATES)}")
        if self.estimate == "mean" and int(self.samples) < 2:
            raise ValueError(f"estimate mean averages several posterior samples: give samples >= 2, got {self.samples}")
        for name, value in self._given().items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        unknown = sorted(set(self.baselines) - set(BASELINES))
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; allowed: {', '.join(BASELINES)}")


@dataclass
class RestoredBatch:
    """What ``restore_batch`` returns; images (B, C, H, W) in model space at the batch's (padded) size.

    ``methods`` holds the restoration (under ``main``, the method's name) and the baselines; ``extra`` the
    posterior samples besides it (every sample when the restoration is their mean, ``estimate`` mean);
    ``degraded`` y made viewable; ``consistency`` ‖Hx̂ − y‖/√m per method (on the whole padded image);
    ``bad_step`` the first step (0-based) where a sample's clean estimate went non-finite, or −1;
    ``failed`` marks samples whose restoration is not usable; ``seconds`` is per image;
    ``sizes`` each sample's own (H, W) inside the padded batch (None: the whole image): ``sample``
    crops a picture back to it, and the scores are taken on the cropped pictures; ``warnings`` per
    sample why its picture does not explain y ("" where it does, ``inconsistent``).
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
    sizes: tuple[tuple[int, int], ...] | None = None
    params: dict | None = None  # the sampler's settings when they are not ``settings.sampler_params()`` (jpeg)
    warnings: list[str] = field(default_factory=list)

    @property
    def restored(self) -> Tensor:
        return self.methods[self.main]

    def sample(self, x: Tensor, i: int) -> Tensor:
        """Sample ``i`` of the batch ``x`` cropped to its own size (a picture of y smaller than
        the image, such as a low-resolution one, is not cropped)."""
        if self.sizes is None or x.shape[-2:] != self.restored.shape[-2:]:
            return x[i]
        return crop_to(x[i], self.sizes[i])

    def size_groups(self) -> list[tuple[tuple[int, int] | None, Tensor]]:
        """(size, row indices) of the samples that share a size (one group without ``sizes``)."""
        rows = torch.arange(self.restored.shape[0], device=self.restored.device)
        if self.sizes is None:
            return [(None, rows)]
        return [(size, rows[[i for i, s in enumerate(self.sizes) if s == size]])
                for size in dict.fromkeys(self.sizes)]


# (step index 1-based, total steps) -> None: progress of the sampler.
StepHook = Callable[[int, int], None]
# Who hears every sampler step in this context besides the caller's ``step_hook``: Lightning
# callbacks (progress bar, the stop between steps) add theirs for the length of a run, so the
# LightningModule carries no hook of theirs.
STEP_LISTENERS: ContextVar[tuple[StepHook, ...]] = ContextVar("step_listeners", default=())


def listen_to_steps(hook: StepHook) -> None:
    """Call ``hook`` after every sampler step from now on, in this context (until ``stop_listening``)."""
    STEP_LISTENERS.set((*STEP_LISTENERS.get(), hook))


def stop_listening(hook: StepHook) -> None:
    STEP_LISTENERS.set(tuple(h for h in STEP_LISTENERS.get() if h != hook))  # == : bound methods are new objects


def restore_batch(
    denoiser: Denoiser,
    degradation: Degradation,
    image: Tensor,
    randomness: SampleRandomness,
    settings: SamplerSettings = SamplerSettings(),
    *,
    labels: Tensor | None = None,
    measured: bool = False,
    sizes: Sequence[tuple[int, int]] | None = None,
    step_hook: StepHook | None = None,
) -> RestoredBatch:
    """Restore a batch of images with DDRM.

    Args:
        denoiser: the prior's ε-network and its schedule.
        degradation: the operator at the batch's geometry and its noise level.
        image: (B, C, H, W) in [-1, 1]: clean images to degrade, or with ``measured`` the
            measurements themselves as images (``operator.measurement_shape``).
        randomness: the batch's per-sample streams (measurement noise, sampler noise).
        settings: the sampler's settings.
        labels: (B,) class labels for class-conditional priors or classifier guidance.
        measured: ``image`` is y (no ground truth).
        sizes: per sample, the (H, W) it was padded from (padding at the bottom and right); its
            pictures and scores are cropped back to it. None: the images are not padded.
        step_hook: progress callback.
    """
    image = image.float()
    operator = degradation.operator
    if measured:
        y, original = degradation.read(image), None
    else:
        y, original = degradation.measure(image, randomness), image
    start = time.perf_counter()
    params = None if operator.linear else settings.nonlinear_params()
    draws = [_sample(denoiser, degradation, y, randomness, settings, labels, k, step_hook)
             for k in range(settings.samples)]
    (restored, bad_step), extra = draws[0], [x for x, _ in draws[1:]]
    gray = _gray_rows(image, operator)
    if gray.any():
        restored, extra = _to_gray(restored, gray), [_to_gray(x, gray) for x in extra]
    if settings.estimate == "mean":
        restored, extra = torch.stack([restored, *extra]).mean(0), [restored, *extra]
        bad_step = first_bad_step([bad for _, bad in draws])
    if restored.is_cuda:
        torch.cuda.synchronize(restored.device)
    seconds = (time.perf_counter() - start) / image.shape[0]

    methods = {settings.method: restored, **baselines(degradation, y, settings.baselines)}
    scores = {name: consistency(operator.H(x), y) for name, x in methods.items()}
    failed = (bad_step >= 0) | ~torch.isfinite(restored).flatten(1).all(1)
    own = None if measured or sizes is None else tuple((int(h), int(w)) for h, w in sizes)
    if own is not None and all(size == tuple(image.shape[-2:]) for size in own):
        own = None
    return RestoredBatch(
        y=y, methods=methods, degraded=operator.measurement_image(y), original=original, consistency=scores,
        bad_step=bad_step, failed=failed, seconds=seconds, extra=extra, main=settings.method, sizes=own, params=params,
        warnings=inconsistent(restored, y, degradation),
    )


def first_bad_step(bad_steps: Sequence[Tensor]) -> Tensor:
    """Per row, the first step (0-based) where any of several samples went non-finite, or −1."""
    steps = torch.stack(list(bad_steps))
    never = torch.iinfo(steps.dtype).max
    first = torch.where(steps >= 0, steps, torch.full_like(steps, never)).min(0).values
    return torch.where(first == never, torch.full_like(first, -1), first)


def inconsistent(x: Tensor, y: Tensor, degradation: Degradation) -> list[str]:
    """Per sample, why the picture of ``x`` (clipped to the image range, as it is written) does not explain
    ``y`` — a residual ‖H x̂ − y‖/√m beyond ``CONSISTENCY_FACTOR`` times the noise's expected norm per
    component, or a non-finite one — or "" where it does."""
    residual = consistency(degradation.operator.H(x.float().clamp(-1.0, 1.0)), y)
    residual = torch.where(torch.isfinite(x).flatten(1).all(1), residual, torch.full_like(residual, math.nan))
    sigma_0 = degradation.sigma_0
    # A JPEG file's y is exact but rounded: its rounding error stands in for the noise.
    rounding = float(getattr(degradation.operator, "rounding_rms", 0.0))
    limit = max(CONSISTENCY_FACTOR * max(sigma_0, rounding), CONSISTENCY_FLOOR)
    if rounding > sigma_0:
        allowed = f"beyond {CONSISTENCY_FACTOR:g}× the file's expected rounding error {rounding:.3g}"
    elif CONSISTENCY_FACTOR * sigma_0 >= CONSISTENCY_FLOOR:
        allowed = f"beyond {CONSISTENCY_FACTOR:g}× the noise's expected {sigma_0:.3g} (σ_y = {degradation.sigma_y:g})"
    else:
        allowed = f"beyond {CONSISTENCY_FLOOR:g} for a noiseless y"
    notes = []
    for value in residual.tolist():
        if not math.isfinite(value):
            notes.append("the restoration or its consistency ‖Hx̂ − y‖/√m is non-finite: it does not explain y")
        elif value > limit:
            notes.append(f"consistency ‖Hx̂ − y‖/√m of the picture {value:.3g} is {allowed}: it does not explain y "
                         "(a failed restoration, see docs/troubleshooting.md)")
        else:
            notes.append("")
    return notes


def _gray_rows(image: Tensor, operator) -> Tensor:
    """(B,) True where a 3-channel image is gray (R = G = B everywhere: a grayscale photo decoded as RGB).
    An RGB prior restores such a photo with some colour in it (|G − B| up to 11 levels seen), so its
    restoration is brought back to gray; colorization is exempt: colour is what it restores."""
    from ..operators.color import Colorization

    if image.shape[1] != 3 or isinstance(operator, Colorization):
        return torch.zeros(image.shape[0], dtype=torch.bool, device=image.device)
    return ((image[:, 0] == image[:, 1]) & (image[:, 1] == image[:, 2])).flatten(1).all(1)


def _to_gray(x: Tensor, gray: Tensor) -> Tensor:
    """The rows ``gray`` of x replaced by their channel mean in every channel."""
    mean = x.mean(dim=1, keepdim=True).expand_as(x)
    return torch.where(gray.view(-1, 1, 1, 1).to(x.device), mean, x)


def baselines(degradation: Degradation, y: Tensor, names) -> dict[str, Tensor]:
    """The classical restorations of y: ``observed`` (y shown as an image) and ``wiener``."""
    out = {}
    observed = degradation.operator.observed(y)
    if "observed" in names:
        out["observed"] = observed
    if "wiener" in names and not degradation.operator.linear:
        out[NONLINEAR_BASELINE] = tv_deblocking(observed, degradation.operator)
    elif "wiener" in names:
        # λ = σ₀² / (variance of the image), the image's variance estimated from what is observed.
        out["wiener"] = wiener(y, degradation.operator, degradation.sigma_0, observed.flatten(1).var(1))
    return out


# TV weight per unit of the mean low-frequency luminance step (the top-left 4×4 of table 0), chosen on the
# demo photos at quality 5..40 (benchmarks/jpeg_quality.py --tune-tv; docs/real_photos.md).
TV_WEIGHT_PER_STEP = 0.0004


def tv_deblocking(observed: Tensor, operator) -> Tensor:
    """The classical restoration of a JPEG: scikit-image's total-variation denoiser (Chambolle) on the
    decoded image, its weight proportional to the file's quantization steps."""
    from skimage.restoration import denoise_tv_chambolle

    weight = TV_WEIGHT_PER_STEP * float(operator.tables[0, :4, :4].mean())
    pixels = ((observed.detach().float().cpu() + 1.0) / 2.0).permute(0, 2, 3, 1).numpy()
    smoothed = [denoise_tv_chambolle(image, weight=weight, channel_axis=-1) for image in pixels]
    return torch.from_numpy(np.stack(smoothed)).permute(0, 3, 1, 2).to(observed) * 2.0 - 1.0


def crop_to(x: Tensor, size: tuple[int, int] | None) -> Tensor:
    """The top-left (H, W) of a padded batch (padding is added at the bottom and right)."""
    return x if size is None else x[..., : size[0], : size[1]]


def _sample(denoiser: Denoiser, degradation: Degradation, y: Tensor, randomness: SampleRandomness,
            settings: SamplerSettings, labels: Tensor | None, draw: int,
            step_hook: StepHook | None) -> tuple[Tensor, Tensor]:
    """Posterior sample ``draw`` of every row of y, and the first step where a sample went non-finite."""
    device = y.device
    bad_step = torch.full((y.shape[0],), -1, device=device, dtype=torch.long)
    labels = None if labels is None else labels.to(device)

    def eps_model(x: Tensor, t: Tensor) -> Tensor:
        return denoiser.eps(x, t, labels)

    total = settings.nfe

    def on_step(step: int, t: int, x_t: Tensor, x0: Tensor) -> None:
        finite = torch.isfinite(x0).flatten(1).all(1)
        bad_step.copy_(torch.where(~finite & (bad_step < 0), torch.full_like(bad_step, step), bad_step))
        for hook in ((step_hook,) if step_hook is not None else ()) + STEP_LISTENERS.get():
            hook(step + 1, total)

    sampler = METHODS[settings.method]
    params = settings.sampler_params()
    if not degradation.operator.linear:  # jpeg: the method's generalisation to the codec (DDRM-JPEG)
        sampler, _ = nonlinear_method(settings.method)
        params = settings.nonlinear_params()
    guidance = denoiser.guidance(labels) if labels is not None else None
    if guidance is not None:  # DDRM only: a Restorer refuses guidance with another method
        params["classifier_grad"] = guidance
    # Only the network may run in reduced precision (Denoiser.eps); the SVD arithmetic stays float32.
    with full_precision(device.type):
        x = sampler(
            eps_model, y.float(), degradation.operator, sigma_0=degradation.sigma_0,
            alphas_cumprod=denoiser.alphas_cumprod.to(device), generator=randomness.generators("sampler", draw),
            callback=on_step, **params,
        )
    return x, bad_step

