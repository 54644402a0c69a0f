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
from ..models.embedded import EMBEDDED_DDRM_STEPS, is_embedded, resolve_checkpoint
from ..operators import Degradation, SVDOperator, build_operator, image_size_behind
from ..randomness import SampleRandomness
from . import precision as policy
from .auto_sigma import auto_sigma_y
from .checks import check_prior, check_tasks
from .core import NONLINEAR_BASELINE, SamplerSettings, restore_batch
from ..sampling.methods import nonlinear_method
from .loading import assemble_denoiser, dress_denoiser, load_checked_prior, tiling_settings
from .denoiser import Denoiser
from .records import Restoration, decoded_part, failed, package
from .scores import score_batch
from .task import Task, parse_tasks


def prior_settings(checkpoint: str, settings: SamplerSettings) -> SamplerSettings:
    """``settings``, with the embedded prior's own DDRM step count (``EMBEDDED_DDRM_STEPS``, chosen on
    photos it never saw) when DDRM restores with it and no steps were given; else unchanged."""
    if settings.method == "ddrm" and settings.timesteps is None and is_embedded(checkpoint):
        return dataclasses.replace(settings, timesteps=EMBEDDED_DDRM_STEPS)
    return settings


class Restorer:
    """How images are restored; the constructor checks every setting (nothing is loaded yet).

    Args:
        checkpoint: ``embedded``, a zoo name or a checkpoint file.
        tasks: the degradations (``Task``s or their dicts); one default task when None.
        settings: the sampler's settings (method, steps, η, samples, baselines); DDRM on the embedded
            prior without steps runs the prior's own count (``prior_settings``).
        classifier, classifier_scale: guidance classifier (zoo name or path) and scale (0: off).
        measured: the images are already degraded (no ground truth).
        geometry: how the data brings images to the model's size (``data.geometry``); with ``pad`` each
            sample's pictures and scores are cropped back to its own size.
        cache_dir: where named checkpoints are looked up / downloaded.
        precision: the network's precision (``restoration.precision.PRECISIONS``); the sampler's
            arithmetic is float32 always.
        channels_last, compile: run the network channels-last / ``torch.compile``d.
        tile, tile_overlap, tile_batch: run the network on overlapping tiles (``sampling.tiles``;
            ``"auto"``: the prior's training size; None: the whole image), ``tile_batch`` per call
            (``"auto"``: sized to the cache/memory).
        metrics: the sweep-level metric options (LPIPS, FID, KID, GIQA).
    """

    def __init__(
        self,
        checkpoint: str = "embedded",
        tasks: list | None = None,
        settings: SamplerSettings | None = None,
        *,
        classifier: str | None = None,
        classifier_scale: float = 0.0,
        measured: bool = False,
        geometry: str | None = None,
        cache_dir: str | None = None,
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
        tile: int | str | None = None,
        tile_overlap: int | None = None,
        tile_batch: int | str = "auto",
        metrics: MetricsOptions | None = None,
    ) -> None:
        self.checkpoint, self.cache_dir = str(checkpoint), cache_dir
        self.tasks: list[Task] = parse_tasks(tasks)
        self.settings = prior_settings(self.checkpoint, settings if settings is not None else SamplerSettings())
        self.classifier_name, self.classifier_scale = classifier, float(classifier_scale)
        if not (math.isfinite(self.classifier_scale) and self.classifier_scale >= 0):
            raise ValueError(f"--model.classifier_scale must be a finite number >= 0 (0: no guidance), "
                             f"got {classifier_scale:g}")
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
        if precision not in policy.PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(policy.PRECISIONS)}")
        self.precision = precision
        self.channels_last, self.compile = bool(channels_last), bool(compile)
        self.tiling = tiling_settings(tile, tile_overlap, tile_batch)
        self.metrics = metrics if metrics is not None else MetricsOptions()
        self.loaded = None  # the checkpoint's LoadedModel (``load``)
        self.denoiser = None  # the prior as the sampler calls it (``assemble``)
        self.network = self.classifier = None  # the plain modules behind it, for a LightningModule to register
        self.device = torch.device("cpu")  # where the network runs (``to``, ``use_precision``)
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
        resolve(resolve_checkpoint(self.checkpoint), self.cache_dir, role="prior")
        if not self.measured:
            self.metrics.fetch()
        if self.guided:
            resolve(self.classifier_name, self.cache_dir, role="classifier")

    def load(self, download: bool = True) -> bool:
        """Load and check the checkpoint now, so a missing or wrong one and a too long schedule fail
        before any work. False, loading nothing, for an uncached zoo checkpoint when ``download`` is False."""
        if self.loaded is None:
            self.loaded = load_checked_prior(self.checkpoint, self.cache_dir, self.settings.steps, download=download)
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

    def use_denoiser(self, denoiser: Denoiser) -> Restorer:
        """Restore with a prior already loaded as a ``Denoiser`` (``api.load_prior``'s) instead of the checkpoint."""
        steps = denoiser.alphas_cumprod.shape[0]
        if self.settings.steps > steps:
            raise ValueError(f"timesteps={self.settings.steps} exceeds the schedule length {steps} of the prior; "
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
        self.use_precision(self.precision, device)
        return self

    def use_precision(self, precision: str, device: torch.device) -> None:
        """Run the network at ``precision`` on ``device`` from now on (a Trainer's precision, say)."""
        self.precision, self.device = precision, device
        self.denoiser.network_context = policy.autocast_factory(device.type, policy.network_dtype(precision, device))

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
                message = f"task '{task.name}': {' '.join(str(error).split())}"
                results.extend(failed(task, sub, i, message, self.settings.method) for i in range(len(sub["id"])))
                continue
            metrics = None if sweep_metrics is None else sweep_metrics[task.name]
            results.extend(self.restore_task(task, sub, op, metrics=metrics, step_hook=step_hook))
        return results

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


def _warn_noiseless(method: str, tasks: list[Task]) -> None:
    """DDNM projects y in exactly: with a noisy y the noise lands in the picture, silently."""
    noisy = [task.name for task in tasks if task.auto_sigma or task.sigma_y > 0]
    if method == "ddnm" and noisy:
        warnings.warn(f"method ddnm assumes a noiseless y (sigma_y = 0), but {', '.join(noisy)} "
                      "has noise: it is copied into the restoration; use method ddnm_plus for noisy measurements",
                      stacklevel=3)
