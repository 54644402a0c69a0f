"""``DDRMRestorer``: the LightningModule whose predict step is a DDRM restoration.

It wires the pieces — prior network, operators, sampler, baselines, metrics — and
computes nothing itself. A prediction is a list of per-(sample, task) results
that ``callbacks.RestorationWriter`` turns into files.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, field

import lightning as L
import torch
from torch import Tensor

from .data.degradation import degrade
from .metrics.image import consistency, psnr, ssim
from .models import load_model
from .embedded import resolve_checkpoint
from .operators import SVDOperator, build_operator
from .sampling import classifier_guidance, ddrm, validate_hyperparameters, wiener
from .seeding import generators, sample_seed
from .options import MetricsOptions
from .task import Task


@dataclass
class Restoration:
    """What one (sample, task) produced; images are (C, H, W) in [0, 1] on the CPU."""

    task: str
    id: str
    source: str
    seed: int
    operator: str
    sigma_y: float
    images: dict[str, Tensor] = field(default_factory=dict)  # restored, degraded, original, observed, wiener
    samples: list[Tensor] = field(default_factory=list)  # extra posterior samples (--model.samples > 1)
    rows: list[dict] = field(default_factory=list)  # one CSV row per method


class DDRMRestorer(L.LightningModule):
    """Restore images with DDRM and a pretrained diffusion prior.

    Args:
        checkpoint: ``embedded`` (the prior shipped with the package), a zoo name
            (``celeba_hq``, ``imagenet_256_uncond``, …) or a path (published file,
            exported network, or a ``train.py`` Lightning checkpoint).
        tasks: the degradations to run on every image.
        timesteps: number of DDRM steps (network evaluations).
        eta: DDRM η, in [0, 1].
        eta_b: DDRM η_b, in [0, 1].
        samples: restorations per image from different seeds (the first is the one scored).
        baselines: classical baselines written beside DDRM: ``observed`` and/or ``wiener``.
        classifier: classifier for guidance (zoo name or path), class-conditional models only.
        classifier_scale: guidance scale (0 disables guidance).
        measurement: images are already degraded (no ground truth); set from ``data.measurement``.
        cache_dir: where named checkpoints are looked up / downloaded.
        channels_last: run the network in channels-last memory format.
        compile: ``torch.compile`` the network.
        clip_denoised: clamp DDRM's clean estimate to the image range at every step (not in
            the paper; helps small priors).
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
    ) -> None:
        super().__init__()
        tasks = [Task() if t is None else t for t in (tasks or [Task()])]
        self.tasks = [t if isinstance(t, Task) else Task(**t) for t in tasks]
        names = [t.name for t in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"task names must be unique, got {names}")
        validate_hyperparameters(sigma_0=0.0, eta=eta, eta_b=eta_b)
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        if samples < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.baselines = list(("observed", "wiener") if baselines is None else baselines)
        unknown = sorted(set(self.baselines) - {"observed", "wiener"})
        if unknown:
            raise ValueError(f"unknown baselines {unknown}; allowed: observed, wiener")
        self.checkpoint = checkpoint
        self.timesteps, self.eta, self.eta_b, self.samples = int(timesteps), float(eta), float(eta_b), int(samples)
        self.classifier_name, self.classifier_scale = classifier, float(classifier_scale)
        self.measurement = bool(measurement)
        self.cache_dir = cache_dir
        self.channels_last, self.compile_network = bool(channels_last), bool(compile)
        self.clip_denoised = bool(clip_denoised)
        self.metrics_options = MetricsOptions()  # replaced by the CLI's --metrics.* group
        self.sweep_metrics = None  # per task, built at predict start
        self.prior = None  # the LoadedModel, set in configure_model
        self._operators: dict[tuple, SVDOperator] = {}
        self.step_hook = None  # set by the progress bar: (step, total) -> None

    # ------------------------------------------------------------------ set-up
    def prepare_data(self) -> None:
        # Runs once per node before the other ranks load: only one process downloads a zoo file.
        from .models.checkpoints import resolve

        resolve(resolve_checkpoint(self.checkpoint), self.cache_dir)
        if self.classifier_name and self.classifier_scale > 0:
            resolve(self.classifier_name, self.cache_dir)

    def load_prior(self, download: bool = True) -> bool:
        """Load and check the prior now (``configure_model`` then reuses it), so a missing or
        wrong checkpoint and a too long schedule fail before any work.

        Returns False, loading nothing, for a zoo checkpoint that is not cached when
        ``download`` is False (``prepare_data`` fetches it later).
        """
        if self.prior is not None:
            return True
        from .models.checkpoints import resolve
        from .models.errors import CheckpointUnavailableError

        name = resolve_checkpoint(self.checkpoint)
        try:
            resolve(name, self.cache_dir, download=download)
        except CheckpointUnavailableError:
            if download:
                raise
            return False
        prior = load_model(name, cache_dir=self.cache_dir, download=download)
        steps = prior.betas.shape[0]
        if self.timesteps > steps:
            raise ValueError(
                f"timesteps={self.timesteps} exceeds the schedule length {steps} of '{self.checkpoint}'; "
                f"allowed: 1..{steps}"
            )
        self.prior = prior
        return True

    def check_setup(
        self, channels: int, image_size: tuple[int, int] | None, *, has_labels: bool, pad_multiple: int | None = None
    ) -> None:
        """Everything about the data the loaded prior must agree with (call after ``load_prior``):
        channels, the tasks' operators at the data's geometry, class labels for a
        class-conditional prior or for classifier guidance."""
        if self.prior is None:
            self.check_tasks(channels, image_size, pad_multiple=pad_multiple)
            return
        model_channels = self.prior.in_channels
        if channels != model_channels:
            raise ValueError(
                f"the checkpoint '{self.checkpoint}' restores {model_channels}-channel images but data.channels={channels}; "
                f"set --data.channels {model_channels}"
            )
        self.check_tasks(model_channels, image_size, pad_multiple=pad_multiple)
        needs_labels = []
        if self.prior.num_classes:
            needs_labels.append(f"the checkpoint '{self.checkpoint}' is class-conditional ({self.prior.num_classes} classes)")
        if self.classifier_name and self.classifier_scale > 0:
            needs_labels.append(f"classifier guidance is on (--model.classifier {self.classifier_name})")
        if needs_labels and not has_labels:
            raise ValueError(
                f"{' and '.join(needs_labels)}, so the images need class labels, but the data has none; "
                "use --data.source hf with --data.label_column <integer column>"
                + ("" if self.prior.num_classes else ", or --model.classifier_scale 0")
            )

    def configure_model(self) -> None:
        if getattr(self, "network", None) is not None:
            return
        self.load_prior()
        self.network = self.prior.eps_model()
        self.network.requires_grad_(False).eval()
        if self.channels_last:
            self.network = self.network.to(memory_format=torch.channels_last)
        self.register_buffer("alphas_cumprod", torch.cumprod(1.0 - self.prior.betas.double(), 0), persistent=False)
        self.classifier = None
        if self.classifier_name and self.classifier_scale > 0:
            from .models import load_classifier

            self.classifier = load_classifier(self.classifier_name, cache_dir=self.cache_dir)[0]
            self.classifier.requires_grad_(False).eval()
        self._eps_forward = torch.compile(self.network) if self.compile_network else self.network

    @property
    def image_channels(self) -> int:
        return self.prior.in_channels

    def operator(self, task: Task, height: int, width: int) -> SVDOperator:
        """The task's operator for this geometry, built once and kept on the module's device."""
        key = (task.name, height, width, self.device)
        if key not in self._operators:
            op = build_operator(task.operator, self.image_channels, height, width, **task.params)
            self._operators[key] = op.to(self.device)
        return self._operators[key]

    def check_tasks(
        self, channels: int, image_size: tuple[int, int] | None, *, pad_multiple: int | None = None
    ) -> None:
        """Build every task's operator once for the data's geometry, so a bad name or
        parameter (unknown operator, factor not dividing the size, color on gray) fails
        before any image is restored. ``image_size`` None (sizes vary) checks names only,
        unless ``pad_multiple`` is given: padded sizes are multiples of it, so the
        operators are built at pad_multiple × pad_multiple."""
        if image_size is None and pad_multiple is not None:
            height, width = pad_multiple, pad_multiple
        else:
            height, width = image_size or (64, 64)
        exact = image_size is not None or pad_multiple is not None
        for task in self.tasks:
            try:
                build_operator(task.operator, channels, height, width, **task.params)
            except ValueError as error:
                if exact and "divide" in str(error) and image_size is None:
                    raise ValueError(
                        f"task '{task.name}': {error}; with geometry pad every image is padded to a multiple of "
                        f"data.pad_multiple={pad_multiple}: set --data.pad_multiple to a multiple of the factor"
                    ) from None
                if exact or "divide" not in str(error):
                    raise ValueError(f"task '{task.name}': {error}") from None

    # ----------------------------------------------------------------- metrics
    def on_predict_start(self) -> None:
        if self.sweep_metrics is None and not self.measurement:
            methods = ("ddrm", *self.baselines)
            # A plain dict: the metric networks are not part of the restorer's state.
            self.sweep_metrics = {t.name: self.metrics_options.build(methods).to(self.device) for t in self.tasks}

    def compute_sweep_metrics(self) -> list[dict]:
        """Sweep-level metrics (FID, KID) and unavailable notes as summary rows; every rank must call it."""
        rows = []
        if self.sweep_metrics is None:
            return rows
        for task, metrics in self.sweep_metrics.items():
            for method in ("ddrm", *self.baselines):
                values = metrics.compute(method)
                for name, value in values.items():
                    if name.endswith("_std"):
                        continue
                    row = {"task": task, "method": method, "metric": name, "mean": "", "std": "", "count": "", "note": ""}
                    if isinstance(value, (int, float)):
                        row.update(mean=float(value), std=values.get(f"{name}_std", ""))
                    else:
                        row["note"] = str(value)
                    rows.append(row)
        return rows

    # ----------------------------------------------------------------- predict
    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[Restoration]:
        # The Trainer's precision (e.g. bf16-mixed) is for the network alone: degradation,
        # SVD arithmetic, baselines and scores stay in float32.
        self._network_autocast = _autocast_state(self.device.type)
        with torch.autocast(self.device.type, enabled=False):
            return self._predict(batch)

    def _predict(self, batch: dict) -> list[Restoration]:
        results: list[Restoration] = []
        ok = [i for i, err in enumerate(batch["error"]) if not err]
        for i, err in enumerate(batch["error"]):
            if err:
                results.extend(self._failed(batch, i, task, err) for task in self.tasks)
        if ok:
            index = torch.tensor(ok, device=batch["image"].device)
            sub = {k: (v.index_select(0, index) if isinstance(v, Tensor) else [v[i] for i in ok]) for k, v in batch.items()}
            for task in self.tasks:
                try:
                    op = self._operator_for(task, sub["image"])
                except ValueError as error:
                    # Only for sizes no check could foresee (pad, measurement mode): this batch's
                    # images get an error row for the task and the sweep goes on.
                    message = f"task '{task.name}': {' '.join(str(error).split())}"
                    results.extend(self._failed(sub, i, task, message) for i in range(len(sub["id"])))
                    continue
                results.extend(self.restore_task(task, sub, op))
        return results

    def _operator_for(self, task: Task, image: Tensor) -> SVDOperator:
        if self.measurement:
            return self.operator(task, *_image_size_for_measurement(task.operator, *image.shape[-2:]))
        return self.operator(task, *image.shape[-2:])

    def restore_task(self, task: Task, batch: dict, op: SVDOperator | None = None) -> list[Restoration]:
        """Degrade (or read) y, restore it, score it; one ``Restoration`` per sample."""
        image, seeds = batch["image"].float(), batch["seed"]
        op = self._operator_for(task, image) if op is None else op
        if self.measurement:
            y, original = op.measurement_from_image(image), None
        else:
            y, original = degrade(image, op, task.sigma_y, seeds), image

        start = time.perf_counter()
        restored, bad_step = self._sample(op, y, task.sigma_0, seeds, batch["label"])
        extra = [self._sample(op, y, task.sigma_0, seeds, batch["label"], k)[0] for k in range(1, self.samples)]
        if restored.is_cuda:
            torch.cuda.synchronize(restored.device)
        seconds = (time.perf_counter() - start) / image.shape[0]

        methods = {"ddrm": restored}
        observed = op.observed(y)
        if "observed" in self.baselines:
            methods["observed"] = observed
        if "wiener" in self.baselines:
            # λ = σ₀² / (variance of the image), the image's variance estimated from what is observed.
            methods["wiener"] = wiener(y, op, task.sigma_0, observed.flatten(1).var(1))
        # A sample whose DDRM run went non-finite is an error row: it must not reach FID/KID either.
        failed = (bad_step >= 0) | ~torch.isfinite(restored).flatten(1).all(1)
        # `pad` geometry: everything is judged and written at the image's own size.
        crop = _crop_box(batch["orig_size"], image.shape[-2:]) if not self.measurement else None
        scores = {name: {"consistency": consistency(op.H(x), y)} for name, x in methods.items()}
        if original is not None:
            original = _crop(original, crop)
            methods = {name: _crop(x, crop) for name, x in methods.items()}
            extra = [_crop(x, crop) for x in extra]
            for name, x in methods.items():
                scores[name].update(psnr=psnr(to_unit(x), to_unit(original)), ssim=ssim(to_unit(x), to_unit(original)))
                if self.sweep_metrics is not None:
                    keep = ~failed if name == "ddrm" else torch.ones_like(failed)
                    scores[name].update(self._sweep_update(task, name, to_unit(x), to_unit(original), keep))
        degraded = op.measurement_image(y)
        if degraded.shape[-2:] == image.shape[-2:]:
            degraded = _crop(degraded, crop)
        return self._package(task, batch, degraded, original, methods, extra, scores, seconds, bad_step)

    def _sweep_update(self, task: Task, method: str, x: Tensor, original: Tensor, keep: Tensor) -> dict[str, Tensor]:
        """Sweep metrics of the ``keep`` rows only; the other rows' per-image values are NaN."""
        metrics = self.sweep_metrics[task.name]
        if bool(keep.all()):
            return metrics.update(x, original, method=method)
        if not bool(keep.any()):
            return {name: torch.full((x.shape[0],), float("nan"), device=x.device) for name in metrics.per_image_names}
        index = keep.nonzero().squeeze(1)
        part = metrics.update(x.index_select(0, index), original.index_select(0, index), method=method)
        out = {}
        for name, values in part.items():
            full = torch.full((x.shape[0],), float("nan"), device=values.device, dtype=values.dtype)
            out[name] = full.index_copy(0, index.to(values.device), values)
        return out

    def _sample(self, op, y, sigma_0, seeds, labels, k: int = 0) -> tuple[Tensor, Tensor]:
        """One DDRM restoration per row of y; also the first step (or -1) where a sample went non-finite."""
        sample_seeds = seeds if k == 0 else torch.tensor([sample_seed(int(s), f"sample{k}") for s in seeds.tolist()])
        gens = generators(sample_seeds, "sampler", device=self.device)
        labels = labels.to(self.device)
        bad_step = torch.full((y.shape[0],), -1, device=self.device, dtype=torch.long)
        autocast = getattr(self, "_network_autocast", None) or _autocast_state(self.device.type)

        def eps_model(x: Tensor, t: Tensor) -> Tensor:
            with autocast:
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                return self._eps_forward(x, t, labels if self.prior.num_classes else None).float()

        def on_step(step: int, t: int, x_t: Tensor, x0: Tensor) -> None:
            finite = torch.isfinite(x0).flatten(1).all(1)
            bad_step.copy_(torch.where(~finite & (bad_step < 0), torch.full_like(bad_step, step), bad_step))
            if self.step_hook is not None:
                self.step_hook(step + 1, self.timesteps)

        guidance = None
        if self.classifier is not None:
            guidance = classifier_guidance(self.classifier, labels, self.classifier_scale)
        # Only the network runs under the Trainer's autocast; the SVD arithmetic stays in float32.
        with torch.autocast(self.device.type, enabled=False):
            x = ddrm(
                eps_model, y.float(), op, sigma_0=sigma_0, alphas_cumprod=self.alphas_cumprod,
                timesteps=self.timesteps, eta=self.eta, eta_b=self.eta_b, generator=gens,
                classifier_grad=guidance, callback=on_step, clip_denoised=self.clip_denoised,
            )
        return x, bad_step

    def _package(self, task, batch, degraded, original, methods, extra, scores, seconds, bad_step) -> list[Restoration]:
        degraded = to_unit(degraded).cpu()
        methods = {name: to_unit(x).cpu() for name, x in methods.items()}
        scores = {name: {k: v.cpu() for k, v in s.items()} for name, s in scores.items()}
        extra = [to_unit(x).cpu() for x in extra]
        originals = None if original is None else to_unit(original).cpu()
        bad_step = bad_step.cpu()
        finite = torch.isfinite(methods["ddrm"]).flatten(1).all(1)
        out = []
        for i, sample_id in enumerate(batch["id"]):
            result = Restoration(
                task=task.name, id=sample_id, source=batch["source"][i], seed=int(batch["seed"][i]),
                operator=task.operator, sigma_y=task.sigma_y,
            )
            failed = not bool(finite[i]) or int(bad_step[i]) >= 0
            for name, x in methods.items():
                row = {k: float(v[i]) for k, v in scores[name].items()}
                row.update(method=name, status="ok", message="")
                if name == "ddrm":  # the baselines' cost is negligible and not measured
                    row["seconds"] = seconds
                if name == "ddrm" and failed:
                    step = int(bad_step[i]) if int(bad_step[i]) >= 0 else self.timesteps - 1
                    row.update(status="error", message=f"non-finite values (NaN/inf) at DDRM step {step + 1}/{self.timesteps}; no image written")
                    row.update({k: float("nan") for k in scores[name]})
                result.rows.append(row)
                if name == "ddrm" and failed:
                    continue
                result.images["restored" if name == "ddrm" else name] = x[i]
            result.images["degraded"] = degraded[i]
            if originals is not None:
                result.images["original"] = originals[i]
            if not failed:
                result.samples = [x[i] for x in extra]
            out.append(result)
        return out

    def _failed(self, batch: dict, i: int, task: Task, message: str) -> Restoration:
        result = Restoration(
            task=task.name, id=batch["id"][i], source=batch["source"][i], seed=int(batch["seed"][i]),
            operator=task.operator, sigma_y=task.sigma_y,
        )
        result.rows.append({"method": "ddrm", "status": "error", "message": message, "seconds": 0.0})
        return result


def to_unit(x: Tensor) -> Tensor:
    """Model space [-1, 1] -> pixel space [0, 1], clamped."""
    return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def _autocast_state(device_type: str):
    """An autocast context equal to the one active now (the Trainer's precision plugin), for the network only."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, dtype=torch.get_autocast_dtype(device_type))
    return contextlib.nullcontext()


def _crop_box(orig_size: Tensor, shape) -> tuple[int, int] | None:
    """The (H, W) to crop a padded batch back to, or None when nothing was padded.

    Padded batches hold images of one original size (the data module batches them alone).
    """
    height, width = (int(v) for v in orig_size[0].tolist())
    return None if (height, width) == tuple(shape) else (height, width)


def _crop(x: Tensor, box: tuple[int, int] | None) -> Tensor:
    return x if box is None else x[..., : box[0], : box[1]]


_SR = re.compile(r"^sr(?:_bicubic)?(\d+)$")


def _image_size_for_measurement(operator: str, height: int, width: int) -> tuple[int, int]:
    """Full image size behind a degraded image of (height, width): ×K for super-resolution, else the same."""
    match = _SR.match(operator)
    if match:
        factor = int(match.group(1))
        return height * factor, width * factor
    return height, width
