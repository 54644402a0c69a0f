"""``Restorer``: one restoration set-up, built and checked once, before any work.

A ``Restorer`` holds everything that decides how an image is restored — the checkpoint and how
its network runs (precision, channels-last, compile, tiles, classifier guidance), the tasks, the
``SamplerSettings``, the metric options, whether the images are measurements and whether padded
images are cropped back — and every rule that ties them together. ``DDRMRestorer`` (Lightning),
``ddrm_lightning.restore`` (the Python API) and the experiments all restore through one; none of
them repeats a rule.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import Tensor

from ..metrics.options import MetricsOptions
from ..models.checkpoints import resolve
from ..operators import Degradation, SVDOperator, build_operator, image_size_behind
from ..randomness import SampleRandomness
from . import precision as policy
from .auto_sigma import auto_sigma_y
from .checks import check_prior, check_tasks
from ..sampling.methods import nonlinear_method
from .core import NONLINEAR_BASELINE, SamplerSettings, restore_batch
from .denoiser import Denoiser
from .loading import assemble_denoiser, dress_denoiser, load_checked_prior, tiling_settings
from .plan import resolved_plan
from .records import Restoration, decoded_part, failed, package
from .scores import score_batch
from .settings import RestorationSettings
from .task import Task, parse_tasks


def sampler_settings(prior: str, settings: RestorationSettings, baselines: tuple[str, ...]) -> SamplerSettings:
    """How ``prior`` samples under ``settings``, its plan (steps, samples, estimate) made concrete
    (``plan.resolved_plan``: the embedded prior's own when none is given)."""
    plan = resolved_plan(prior, settings.method, settings.steps, settings.samples, settings.estimate)
    return SamplerSettings(
        steps=plan.steps, eta=settings.eta, eta_b=settings.eta_b, clip_denoised=bool(settings.clip_denoised),
        samples=plan.samples, estimate=plan.estimate, baselines=tuple(baselines),
        method=settings.method, method_params=dict(settings.method_params))


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
            steps, samples or estimate runs the prior's own plan (``sampler_settings``).
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
        self.settings = sampler_settings(self.checkpoint, settings, tuple(baselines))
        self.classifier_name, self.classifier_scale = settings.classifier, float(settings.classifier_scale)
        if not (math.isfinite(self.classifier_scale) and self.classifier_scale >= 0):
            raise ValueError(f"--model.classifier_scale must be a finite number >= 0 (0: no guidance), "
                             f"got {settings.classifier_scale:g}")
        if self.guided and self.settings.method != "ddrm":
            raise ValueError(f"classifier guidance works with method ddrm only, not {self.settings.method}; "
                             "set --model.classifier_scale 0 or --model.method ddrm")
        self.measured = bool(measured)
        auto = [task.name for task in self.tasks if task.auto_sigma]
        if auto and not self.measured:
            raise ValueError(f"sigma_y auto (task {', '.join(auto)}) estimates the noise of your own degraded photo, "
                             "so it needs measurement mode (measured=True, --data.measurement true); with ground truth "
                             "give sigma_y as a number")
        self.notify = print  # hears what a run estimates per photo (sigma_y auto)
        if any(task.operator == JPEG for task in self.tasks):
            nonlinear_method(self.settings.method)  # a one-line refusal for a method that cannot restore jpeg
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
        """The restoration's method, then the baselines: the methods of every record (for jpeg, TV deblocking
        takes Wiener's place: Wiener needs an SVD)."""
        baselines = list(self.settings.baselines)
        if "wiener" in baselines and any(task.operator == JPEG for task in self.tasks):
            baselines.append(NONLINEAR_BASELINE)
            if all(task.operator == JPEG for task in self.tasks):
                baselines.remove("wiener")
        return (self.settings.method, *baselines)

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
        if denoiser.checkpoint is not None:  # its defaults (the embedded prior's plan), as by its name
            self.checkpoint = denoiser.checkpoint
            self.settings = sampler_settings(self.checkpoint, self.config, self.settings.baselines)
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

    def operator_for(self, task: Task, image: Tensor) -> SVDOperator | None:
        """The operator for a batch of images (measurements: the size behind them); None for measured
        JPEG files restored from their own tables (``file_operator``, per image)."""
        if self._per_file(task):
            return None
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
            one = sample_of(batch, i)
            out.extend(self._restore_or_fail(task, one, self.operator_for(task, one["image"]), metrics, step_hook))
        return out

    def restore_task(self, task: Task, batch: dict, op: SVDOperator, *, metrics=None,
                     step_hook=None) -> list[Restoration]:
        """Degrade (or read) y, restore it, score it; one ``Restoration`` per sample.

        With ``sigma_y: auto`` each sample is restored on its own at the σ_y estimated from its
        observed image (said through ``notify`` first, and written as its rows' ``sigma_y``)."""
        if not task.auto_sigma and op is not None:
            return self._restore_at(task, task.sigma_y, batch, op, metrics, step_hook)
        records = []
        for i in range(len(batch["id"])):
            one = sample_of(batch, i)
            try:
                own = op if op is not None else self.file_operator(task, one)
            except ValueError as error:
                records.append(failed(task, one, 0, f"task '{task.name}': {error}", self.settings.method))
                continue
            sigma_y = auto_sigma_y(one["image"][0], one["source"][0] or one["id"][0], self.notify) \
                if task.auto_sigma else task.sigma_y
            records.extend(self._restore_at(task, sigma_y, one, own, metrics, step_hook))
        return records

    def _per_file(self, task: Task) -> bool:
        """A measured JPEG restored from each file's own tables: measurement mode, task jpeg, no tables or
        quality of the task's own."""
        return self.measured and task.operator == JPEG and not {"quality", "tables"} & set(task.params)

    def file_operator(self, task: Task, one: dict) -> SVDOperator:
        """The ``jpeg`` operator of one measured image (a batch of one) from its file's tables and components
        (``data.decoding.jpeg_info``), or a one-line ``ValueError`` saying what is missing."""
        info = (one.get("jpeg") or [None])[0]
        if info is None:
            raise ValueError(f"{one['source'][0] or one['id'][0]} is not a JPEG file (or was decoded reduced), so its "
                             "quantization tables are unknown: give the quality it was saved with, e.g. "
                             "--model.tasks '[{\"operator\": \"jpeg\", \"params\": {\"quality\": 75}}]' "
                             "(restore(..., params={\"quality\": 75}))")
        if info.get("error"):
            raise ValueError(info["error"])
        if len(info["components"]) != self.denoiser.channels:
            kind = "a grayscale" if len(info["components"]) == 1 else "a colour"
            raise ValueError(f"{kind} JPEG needs a prior of {len(info['components'])} channel(s); this prior restores "
                             f"{self.denoiser.channels}-channel images")
        height, width = one["image"].shape[-2:]
        params = {**{k: v for k, v in task.params.items() if k not in ("quality", "tables")},
                  "tables": info["tables"], "components": info["components"]}
        params.pop("subsampling", None)
        return build_operator(JPEG, self.denoiser.channels, height, width, **params).to(one["image"].device)

    def _restore_at(self, task: Task, sigma_y: float, batch: dict, op: SVDOperator, metrics, step_hook) -> list[Restoration]:
        image = batch["image"].float()
        sizes = batch["orig_size"].tolist() if self.crop_back else None
        result = restore_batch(
            self.denoiser, Degradation(op, sigma_y), image, SampleRandomness(batch["seed"], image.device),
            self.settings, labels=batch["label"], measured=self.measured, sizes=sizes, step_hook=step_hook,
        )
        records = package(task, batch, result, score_batch(result, metrics), self.settings)
        for record in records:
            record.sigma_y = sigma_y
        return records


JPEG = "jpeg"


def sample_of(batch: dict, i: int) -> dict:
    """Sample ``i`` of a batch dict as a batch of one."""
    return {k: (v[i : i + 1] if isinstance(v, Tensor) else [v[i]]) for k, v in batch.items()}


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


def _warn_noiseless(method: str, tasks: list[Task]) -> None:
    """DDNM projects y in exactly: with a noisy y the noise lands in the picture, silently."""
    noisy = [task.name for task in tasks if task.auto_sigma or task.sigma_y > 0]
    if method == "ddnm" and noisy:
        warnings.warn(f"method ddnm assumes a noiseless y (sigma_y = 0), but {', '.join(noisy)} "
                      "has noise: it is copied into the restoration; use method ddnm_plus for noisy measurements",
                      stacklevel=3)
