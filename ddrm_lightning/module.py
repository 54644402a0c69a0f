"""``DDRMRestorer``: the LightningModule whose predict step is a DDRM restoration.

It wires the pieces — prior, operators, ``restoration.restore_batch``, scores — and computes
nothing itself. A prediction is a list of per-(sample, task) ``Restoration`` records that
``callbacks.RestorationWriter`` turns into files.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor

from .metrics.options import MetricsOptions
from .models.checkpoints import resolve
from .models.embedded import resolve_checkpoint
from .operators import Degradation, SVDOperator, build_operator, image_size_behind
from .randomness import SampleRandomness
from .restoration import Prior, Restoration, SamplerSettings, Task, check_prior, check_tasks, restore_batch
from .restoration.loading import assemble_prior, load_checked_prior, tiling_settings
from .restoration.prior import autocast_like
from .restoration.records import decoded_part, failed, package
from .restoration.scores import score_batch, sweep_summary_rows
from .restoration.task import parse_tasks


class DDRMRestorer(L.LightningModule):
    """Restore images with DDRM (or another zero-shot sampler) and a pretrained diffusion prior.

    Args:
        checkpoint: ``embedded`` (shipped with the package), a zoo name (``celeba_hq``, …) or a path
            (published file, exported network, or a ``train.py`` checkpoint).
        tasks: the degradations to run on every image.
        timesteps, eta, eta_b: the sampler's steps (network evaluations), DDRM's η and η_b in [0, 1].
        samples: restorations per image from different seeds (the first is the one scored).
        baselines: classical baselines written beside the restoration: ``observed`` and/or ``wiener``.
        classifier, classifier_scale: guidance classifier (zoo name or path) and scale (0: off).
        measurement: images are already degraded (no ground truth); set from ``data.measurement``.
        cache_dir: where named checkpoints are looked up / downloaded. channels_last, compile: run
            the network channels-last / ``torch.compile``d.
        clip_denoised: clamp the clean estimate to the image range every step (not in the paper).
        method: ``ddrm`` (default), ``ddnm``, ``ddnm_plus``, ``pigdm``, ``diffpir`` or ``dps``; the
            others start from their published settings, ``method_params`` override them.
        tile, tile_overlap, tile_batch: run the network on overlapping tiles of side ``tile`` (blended,
            ``sampling.tiles``; ``auto``: the prior's training size; overlap default tile // 4),
            ``tile_batch`` per call (``auto``: sized to the cache/memory); None: whole image.
    """

    def __init__(
        self,
        checkpoint: str = "embedded",
        tasks: list[Task] | None = None,
        timesteps: int = 20,
        eta: float = 0.85,
        eta_b: float = 1.0,
        samples: int = 1,
        baselines: list[str] | None = None,
        classifier: str | None = None,
        classifier_scale: float = 0.0,
        measurement: bool = False,
        cache_dir: str | None = None,
        channels_last: bool = False,
        compile: bool = False,
        clip_denoised: bool = False,
        method: str = "ddrm",
        method_params: dict | None = None,
        tile: int | str | None = None,
        tile_overlap: int | None = None,
        tile_batch: int | str = "auto",
    ) -> None:
        super().__init__()
        self.tasks = parse_tasks(tasks)
        self.settings = SamplerSettings(
            timesteps=int(timesteps), eta=float(eta), eta_b=float(eta_b), clip_denoised=bool(clip_denoised),
            samples=int(samples), baselines=tuple(("observed", "wiener") if baselines is None else baselines),
            method=method, method_params=dict(method_params or {}),
        )
        self.checkpoint, self.cache_dir = checkpoint, cache_dir
        self.classifier_name, self.classifier_scale = classifier, float(classifier_scale)
        if self._guided() and self.settings.method != "ddrm":
            raise ValueError(f"classifier guidance works with method ddrm only, not {self.settings.method}; "
                             "set --model.classifier_scale 0 or --model.method ddrm")
        self.measurement = bool(measurement)
        self.channels_last, self.compile_network = bool(channels_last), bool(compile)
        self.tiling = tiling_settings(tile, tile_overlap, tile_batch)
        self.metrics_options = MetricsOptions()  # replaced by the CLI's --metrics.* group
        self.sweep_metrics = None  # per task, built at predict start
        self.prior = None  # the LoadedModel, set by load_prior
        self.restoration_prior: Prior | None = None  # what the sampler calls, set in configure_model
        self._operators: dict[tuple, SVDOperator] = {}
        self.step_hook = None  # set by the progress bar: (step, total) -> None

    timesteps = property(lambda self: self.settings.timesteps)
    baselines = property(lambda self: list(self.settings.baselines))

    def prepare_data(self) -> None:
        # Runs once per node before the other ranks load: only one process downloads a zoo file
        # or a metric's weights (``fetch`` never raises: a metric it cannot fetch is unavailable).
        resolve(resolve_checkpoint(self.checkpoint), self.cache_dir, role="prior")
        if not self.measurement:
            self.metrics_options.fetch()
        if self._guided():
            resolve(self.classifier_name, self.cache_dir, role="classifier")

    def load_prior(self, download: bool = True) -> bool:
        """Load and check the prior now (``configure_model`` then reuses it), so a missing or
        wrong checkpoint and a too long schedule fail before any work.

        Returns False, loading nothing, for a zoo checkpoint that is not cached when
        ``download`` is False (``prepare_data`` fetches it later).
        """
        if self.prior is None:
            self.prior = load_checked_prior(self.checkpoint, self.cache_dir, self.timesteps, download=download)
        return self.prior is not None

    def check_setup(self, channels: int, image_size: tuple[int, int] | None, *, has_labels: bool,
                    pad_multiple: int | None = None) -> None:
        """What the data must agree with (see ``restoration.check_prior``); call after ``load_prior``."""
        if self.prior is None:
            check_tasks(self.tasks, channels, image_size, pad_multiple=pad_multiple, measured=self.measurement)
            return
        check_prior(self.prior, self.checkpoint, self.tasks, channels, image_size, has_labels=has_labels,
                    guided=self.classifier_name if self._guided() else None, pad_multiple=pad_multiple,
                    measured=self.measurement)

    def _guided(self) -> bool:
        return bool(self.classifier_name) and self.classifier_scale > 0

    def configure_model(self) -> None:
        if self.restoration_prior is None:
            self.load_prior()
            self.restoration_prior, self.network, self.classifier = assemble_prior(
                self.prior, classifier=self.classifier_name, classifier_scale=self.classifier_scale,
                cache_dir=self.cache_dir, channels_last=self.channels_last, compile=self.compile_network,
                tiling=self.tiling)

    def operator(self, task: Task, height: int, width: int) -> SVDOperator:
        """The task's operator for this geometry, built once and kept on the module's device."""
        key = (task.name, height, width, self.device)
        if key not in self._operators:
            params = task.operator_params(self.measurement)
            op = build_operator(task.operator, self.prior.in_channels, height, width, **params)
            self._operators[key] = op.to(self.device)
        return self._operators[key]

    def on_predict_start(self) -> None:
        if self.sweep_metrics is None and not self.measurement:
            methods = (self.settings.method, *self.baselines)
            # A plain dict: the metric networks are not part of the restorer's state.
            self.sweep_metrics = {t.name: self.metrics_options.build(methods).to(self.device) for t in self.tasks}

    def compute_sweep_metrics(self) -> list[dict]:
        """Sweep-level metrics (FID, KID) and unavailable notes as summary rows; every rank must call it."""
        return sweep_summary_rows(self.sweep_metrics or {}, (self.settings.method, *self.baselines))

    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[Restoration]:
        # The Trainer's precision (e.g. bf16-mixed) is for the network alone: degradation,
        # SVD arithmetic, baselines and scores stay in float32.
        self.restoration_prior.network_context = autocast_like(self.device.type)
        with torch.autocast(self.device.type, enabled=False):
            return self._predict(batch)

    def _predict(self, batch: dict) -> list[Restoration]:
        results: list[Restoration] = [failed(task, batch, i, err, self.settings.method)
                                      for i, err in enumerate(batch["error"]) if err for task in self.tasks]
        sub = decoded_part(batch)
        if sub is not None:
            for task in self.tasks:
                try:
                    op = self._operator_for(task, sub["image"])
                except ValueError as error:
                    # Only for sizes no check could foresee (pad, measurement mode): this batch's
                    # images get an error row for the task and the sweep goes on.
                    message = f"task '{task.name}': {' '.join(str(error).split())}"
                    results.extend(failed(task, sub, i, message, self.settings.method)
                                   for i in range(len(sub["id"])))
                    continue
                results.extend(self.restore_task(task, sub, op))
        return results

    def _operator_for(self, task: Task, image: Tensor) -> SVDOperator:
        height, width = image.shape[-2:]
        if self.measurement:
            height, width = image_size_behind(task.operator, height, width, **task.params)
        return self.operator(task, height, width)

    def restore_task(self, task: Task, batch: dict, op: SVDOperator | None = None) -> list[Restoration]:
        """Degrade (or read) y, restore it, score it; one ``Restoration`` per sample."""
        image = batch["image"].float()
        op = self._operator_for(task, image) if op is None else op
        result = restore_batch(
            self.restoration_prior, Degradation(op, task.sigma_y), image, SampleRandomness(batch["seed"], self.device),
            self.settings, labels=batch["label"], measured=self.measurement,
            orig_size=tuple(int(v) for v in batch["orig_size"][0].tolist()), step_hook=self.step_hook,
        )
        scores = score_batch(result, None if self.sweep_metrics is None else self.sweep_metrics[task.name])
        return package(task, batch, result, scores, self.settings)
