"""``Restorer``: one restoration set-up, built and checked once, before any work.

A ``Restorer`` holds everything that decides how an image is restored — the checkpoint and how
its network runs (precision, channels-last, compile, tiles, classifier guidance), the tasks, the
``SamplerSettings``, the metric options, whether the images are measurements and whether padded
images are cropped back — and every rule that ties them together. ``DDRMRestorer`` (Lightning),
``ddrm_lightning.restore`` (the Python API) and the experiments all restore through one; none of
them repeats a rule.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import torch
from torch import Tensor

from ..metrics.options import MetricsOptions
from ..models.checkpoints import resolve
from ..models.embedded import EMBEDDED_DDRM_STEPS, is_embedded
from ..operators import Degradation, SVDOperator, build_operator, image_size_behind
from ..randomness import SampleRandomness
from . import precision as policy
from .checks import check_prior, check_tasks
from .core import SamplerSettings, restore_batch
from .denoiser import Denoiser
from .loading import assemble_denoiser, dress_denoiser, load_checked_prior, tiling_settings
from .records import Restoration, decoded_part, failed, package
from .scores import score_batch
from .settings import RestorationSettings
from .task import Task, parse_tasks


def prior_settings(prior: str, settings: SamplerSettings) -> SamplerSettings:
    """``settings``, with the embedded prior's own DDRM step count (``EMBEDDED_DDRM_STEPS``, chosen on
    photos it never saw) when DDRM restores with it and no steps were given; else unchanged."""
    if settings.method == "ddrm" and settings.steps is None and is_embedded(prior):
        return dataclasses.replace(settings, steps=EMBEDDED_DDRM_STEPS)
    return settings


def build_restorer(settings: RestorationSettings | None = None, tasks: list | None = None, *,
                   baselines: tuple[str, ...] | list[str] = (), measured: bool = False, geometry: str | None = None,
                   metrics: MetricsOptions | None = None, denoiser: Denoiser | None = None) -> Restorer:
    """The one way a ``Restorer`` is made: from ``RestorationSettings`` (restore.py's ``--model.*``, the
    keywords of ``restore()``), the tasks and what the caller alone decides — the baselines it writes,
    whether its images are measurements, the data's geometry, the sweep metrics — and, for a prior loaded
    already (``load_prior``), its ``denoiser``."""
    restorer = Restorer(settings if settings is not None else RestorationSettings(), tasks, baselines=baselines,
                        measured=measured, geometry=geometry, metrics=metrics)
    if denoiser is not None:
        restorer.use_denoiser(denoiser)
    return restorer


class Restorer:
    """How images are restored; the constructor checks every setting (nothing is loaded yet). Made by
    ``build_restorer``.

    Args:
        settings: how the prior restores (``RestorationSettings``); DDRM on the embedded prior without
            steps runs the prior's own count (``prior_settings``).
        tasks: the degradations (``Task``s or their dicts); one default task when None.
        baselines: classical baselines restored beside the method (``BASELINES``).
        measured: the images are already degraded (no ground truth).
        geometry: how the data brings images to the model's size (``data.geometry``); with ``pad`` each
            sample's pictures and scores are cropped back to its own size.
        metrics: the sweep-level metric options (LPIPS, FID, KID, GIQA).
    """

    def __init__(
        self,
        settings: RestorationSettings,
        tasks: list | None = None,
        *,
        baselines: tuple[str, ...] | list[str] = (),
        measured: bool = False,
        geometry: str | None = None,
        metrics: MetricsOptions | None = None,
    ) -> None:
        if not isinstance(settings, RestorationSettings):
            raise TypeError(f"a Restorer is built from RestorationSettings, got {type(settings).__name__}")
        self.config = settings
        self.checkpoint, self.cache_dir = settings.prior, settings.cache_dir
        self.tasks: list[Task] = parse_tasks(tasks)
        sampler = SamplerSettings(
            steps=settings.steps, eta=settings.eta, eta_b=settings.eta_b, clip_denoised=bool(settings.clip_denoised),
            samples=int(settings.samples), baselines=tuple(baselines), method=settings.method,
            method_params=dict(settings.method_params))
        self.settings = prior_settings(self.checkpoint, sampler)
        self.classifier_name, self.classifier_scale = settings.classifier, float(settings.classifier_scale)
        if not (math.isfinite(self.classifier_scale) and self.classifier_scale >= 0):
            raise ValueError(f"--model.classifier_scale must be a finite number >= 0 (0: no guidance), "
                             f"got {settings.classifier_scale:g}")
        if self.guided and self.settings.method != "ddrm":
            raise ValueError(f"classifier guidance works with method ddrm only, not {self.settings.method}; "
                             "set --model.classifier_scale 0 or --model.method ddrm")
        self.measured = bool(measured)
        self.crop_back = geometry == "pad" and not self.measured  # padding is added at the bottom and right
        self.precision = settings.precision  # as asked; ``resolved_precision`` once the device is known
        self.resolved_precision: str | None = None
        self.channels_last, self.compile = bool(settings.channels_last), bool(settings.compile)
        self.tiling = tiling_settings(settings.tile, settings.tile_overlap, settings.tile_batch)
        self.metrics = metrics if metrics is not None else MetricsOptions()
        self.loaded = None  # the checkpoint's LoadedModel (``load``)
        self.denoiser = None  # the prior as the sampler calls it (``assemble``)
        self.network = self.classifier = None  # the plain modules behind it, for a LightningModule to register
        self.device = torch.device("cpu")  # where the network runs (``to``)
        self._operators: dict[tuple, SVDOperator] = {}
        _warn_noiseless(self.settings.method, self.tasks)

    @property
    def guided(self) -> bool:
        return bool(self.classifier_name) and self.classifier_scale > 0

    @property
    def methods(self) -> tuple[str, ...]:
        """The restoration's method, then the baselines: the methods of every record."""
        return (self.settings.method, *self.settings.baselines)

    def fetch(self) -> None:
        """Fetch what a run needs from the network (checkpoint, classifier, metric weights) without loading it;
        meant for one process per node before the others start."""
        resolve(self.checkpoint, self.cache_dir, role="prior")
        if not self.measured:
            self.metrics.fetch()
        if self.guided:
            resolve(self.classifier_name, self.cache_dir, role="classifier")

    def load(self, download: bool = True) -> bool:
        """Load and check the checkpoint now, so a missing or wrong one and a too long schedule fail
        before any work. False, loading nothing, for an uncached zoo checkpoint when ``download`` is False."""
        if self.loaded is None:
            self.loaded = load_checked_prior(self.checkpoint, self.cache_dir, self.settings.nfe, download=download)
        return self.loaded is not None

    def check_data(self, channels: int, image_size: tuple[int, int] | None, *, has_labels: bool,
                   pad_multiple: int | None = None) -> None:
        """What the data must agree with (``restoration.check_prior``); the tasks alone before ``load``."""
        if self.loaded is None:
            check_tasks(self.tasks, channels if self.denoiser is None else self.denoiser.channels, image_size,
                        pad_multiple=pad_multiple, measured=self.measured)
            return
        check_prior(self.loaded, self.checkpoint, self.tasks, channels, image_size, has_labels=has_labels,
                    guided=self.classifier_name if self.guided else None, pad_multiple=pad_multiple,
                    measured=self.measured)

    def size_problem(self, height: int, width: int) -> str | None:
        """Why a restoration of (height, width) cannot run on this prior, or None: the network
        reflect-pads an image to a multiple of its downsampling, which needs more than half of that
        multiple per side. Unknown (None) until the checkpoint is loaded."""
        factor = None if self.loaded is None else self.loaded.downsample_factor
        if not factor or (-height % factor < height and -width % factor < width):
            return None
        return (f"its {height}×{width} restoration is too small for the prior, which reflect-pads to a multiple "
                f"of {factor}: it needs at least {factor // 2 + 1} pixels per side")

    def use_denoiser(self, denoiser: Denoiser) -> Restorer:
        """Restore with a prior already loaded as a ``Denoiser`` (``api.load_prior``'s) instead of the checkpoint."""
        if denoiser.checkpoint is not None:  # its defaults (the embedded prior's steps), as by its name
            self.checkpoint = denoiser.checkpoint
            self.settings = prior_settings(self.checkpoint, self.settings)
        steps = denoiser.alphas_cumprod.shape[0]
        if self.settings.nfe > steps:
            raise ValueError(f"steps={self.settings.nfe} exceeds the schedule length {steps} of the prior; "
                             f"allowed: 1..{steps}")
        self.network = denoiser.network
        self.denoiser = dress_denoiser(denoiser, channels_last=self.channels_last, compile=self.compile, tiling=self.tiling)
        return self

    def assemble(self) -> Restorer:
        """Load (if needed) and build the network the sampler calls, once."""
        if self.denoiser is None:
            self.load()
            self.denoiser, self.network, self.classifier = assemble_denoiser(
                self.loaded, classifier=self.classifier_name if self.guided else None,
                classifier_scale=self.classifier_scale, cache_dir=self.cache_dir, channels_last=self.channels_last,
                compile=self.compile, tiling=self.tiling)
        return self

    def to(self, device: torch.device | str) -> Restorer:
        """Move the network to ``device`` and let it run at this restorer's precision there."""
        device = torch.device(device)
        self.assemble()
        for module in (self.network, self.classifier):
            if isinstance(module, torch.nn.Module):
                module.to(device)
        self.run_on(device)
        return self

    def resolve_precision(self, device_kind: str) -> tuple[str, str | None]:
        """(the precision the network runs in on a device of kind ``cpu``, ``cuda`` or another, why ``auto``
        chose it — None when it was not ``auto``), checked now (fp16 runs on CUDA only)."""
        return policy.resolve(self.precision, device_kind)

    def run_on(self, device: torch.device) -> None:
        """Run the network on ``device`` from now on, at this restorer's precision (``auto`` resolved there)."""
        self.device = device
        self.resolved_precision = self.resolve_precision(device.type)[0]
        warning = policy.emulated_bf16_warning(self.resolved_precision, device.type)
        if warning:  # once per process (a sweep has said it before work already)
            warnings.warn(warning, stacklevel=2)
        dtype = policy.DTYPES[self.resolved_precision]
        self.denoiser.network_context = policy.autocast_factory(device.type, dtype)

    def sweep_metrics(self, device: torch.device) -> dict | None:
        """Per task, the sweep-level metrics (None in measurement mode: there is no ground truth)."""
        if self.measured:
            return None
        return {task.name: self.metrics.build(self.methods).to(device) for task in self.tasks}

    def operator(self, task: Task, height: int, width: int, device: torch.device) -> SVDOperator:
        """The task's operator for images of (height, width) (the restoration's size), built once per device."""
        key = (task.name, height, width, device)
        if key not in self._operators:
            params = task.operator_params(self.measured)
            self._operators[key] = build_operator(task.operator, self.denoiser.channels, height, width,
                                                  **params).to(device)
        return self._operators[key]

    def operator_for(self, task: Task, image: Tensor) -> SVDOperator:
        """The operator for a batch of images (measurements: the size behind them)."""
        height, width = image.shape[-2:]
        if self.measured:
            height, width = image_size_behind(task.operator, height, width, **task.params)
        return self.operator(task, height, width, image.device)

    def restore(self, batch: dict, *, sweep_metrics: dict | None = None, step_hook=None) -> list[Restoration]:
        """Every task on one batch (``data.collate``'s dict): a ``Restoration`` per (sample, task).

        Only the network runs in reduced precision: degradation, SVD arithmetic, baselines and
        scores stay float32 even inside a caller's autocast (a Trainer's precision plugin).
        """
        with policy.full_precision(batch["image"].device.type):
            return self._restore(batch, sweep_metrics, step_hook)

    def _restore(self, batch: dict, sweep_metrics: dict | None, step_hook) -> list[Restoration]:
        results = [failed(task, batch, i, err, self.settings.method)
                   for i, err in enumerate(batch["error"]) if err for task in self.tasks]
        sub = decoded_part(batch)
        if sub is None:
            return results
        for task in self.tasks:
            try:
                op = self.operator_for(task, sub["image"])
            except ValueError as error:
                # Only for sizes no check could foresee (pad, measurement mode): this batch's
                # images get an error row for the task and the run goes on.
                results.extend(failed(task, sub, i, _failure(sub, i, task, error), self.settings.method)
                               for i in range(len(sub["id"])))
                continue
            metrics = None if sweep_metrics is None else sweep_metrics[task.name]
            results.extend(self._restore_or_fail(task, sub, op, metrics, step_hook))
        return results

    def _restore_or_fail(self, task: Task, batch: dict, op: SVDOperator, metrics, step_hook) -> list[Restoration]:
        """``restore_task``, where an image whose size or content makes the restoration raise (a photo
        too small for the network's padding, say) becomes that image's error row: with more than one
        image, each is tried alone, so only the one at fault fails and the sweep goes on."""
        try:
            return self.restore_task(task, batch, op, metrics=metrics, step_hook=step_hook)
        except IMAGE_ERRORS as error:
            if len(batch["id"]) == 1:
                return [failed(task, batch, 0, _failure(batch, 0, task, error), self.settings.method)]
        out = []
        for i in range(len(batch["id"])):
            one = _one_sample(batch, i)
            out.extend(self._restore_or_fail(task, one, self.operator_for(task, one["image"]), metrics, step_hook))
        return out

    def restore_task(self, task: Task, batch: dict, op: SVDOperator, *, metrics=None,
                     step_hook=None) -> list[Restoration]:
        """Degrade (or read) y, restore it, score it; one ``Restoration`` per sample."""
        image = batch["image"].float()
        sizes = batch["orig_size"].tolist() if self.crop_back else None
        result = restore_batch(
            self.denoiser, Degradation(op, task.sigma_y), image, SampleRandomness(batch["seed"], image.device),
            self.settings, labels=batch["label"], measured=self.measured, sizes=sizes, step_hook=step_hook,
        )
        return package(task, batch, result, score_batch(result, metrics), self.settings)


# What a restoration may raise for one image's size or content (never an interruption: those derive
# from other classes and stop the run); a CUDA out-of-memory error is a RuntimeError too, so an image
# too large for the device fails alone.
IMAGE_ERRORS = (ValueError, RuntimeError, ArithmeticError, IndexError)


def _failure(batch: dict, i: int, task: Task, error: BaseException) -> str:
    """The error row's message: the file, the task and what went wrong, on one line."""
    reason = " ".join(str(error).split()) or type(error).__name__
    if not isinstance(error, ValueError):
        reason = f"{type(error).__name__}: {reason}"
    return f"{batch['source'][i]}: task '{task.name}': {reason}"


def _one_sample(batch: dict, i: int) -> dict:
    return {k: (v[i : i + 1] if isinstance(v, Tensor) else [v[i]]) for k, v in batch.items()}


def _warn_noiseless(method: str, tasks: list[Task]) -> None:
    """DDNM projects y in exactly: with a noisy y the noise lands in the picture, silently."""
    noisy = [task.name for task in tasks if task.sigma_y > 0]
    if method == "ddnm" and noisy:
        warnings.warn(f"method ddnm assumes a noiseless y (sigma_y = 0), but {', '.join(noisy)} "
                      "has noise: it is copied into the restoration; use method ddnm_plus for noisy measurements",
                      stacklevel=3)
