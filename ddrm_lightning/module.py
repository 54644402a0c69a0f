"""``DDRMRestorer``: the LightningModule whose predict step is a ``Restorer``'s restoration.

It receives a ``restoration.Restorer`` (as the lightning-hydra-template's modules receive their
``net``) and only wires Lightning's hooks to it; every rule of how a restoration is set up lives
in the ``Restorer``. ``restorer_module`` builds both from ``restore.py``'s ``--model.*`` settings.
A prediction is a list of per-(sample, task) ``Restoration`` records that
``callbacks.RestorationWriter`` turns into files.
"""

from __future__ import annotations

import lightning as L

from .metrics.options import MetricsOptions
from .restoration import BASELINES, Restoration, Restorer, SamplerSettings, Task
from .restoration.precision import from_lightning
from .restoration.scores import sweep_summary_rows


class DDRMRestorer(L.LightningModule):
    """Lightning's hooks around a ``Restorer``: fetch in ``prepare_data``, build the network in
    ``configure_model``, the Trainer's precision and the sweep metrics at predict start, restore
    in ``predict_step``."""

    def __init__(self, restorer: Restorer) -> None:
        super().__init__()
        self.restorer = restorer
        self.sweep_metrics = None  # per task, built at predict start

    tasks = property(lambda self: self.restorer.tasks)
    settings = property(lambda self: self.restorer.settings)

    def prepare_data(self) -> None:
        # Runs once per node before the other ranks load: only one process downloads.
        self.restorer.fetch()

    def configure_model(self) -> None:
        if self.restorer.denoiser is None:
            self.restorer.assemble()
            # Registered as submodules, so Lightning moves them to the device.
            self.network, self.classifier = self.restorer.network, self.restorer.classifier

    def on_predict_start(self) -> None:
        self.restorer.use_precision(from_lightning(self.trainer.precision), self.device)
        if self.sweep_metrics is None:
            self.sweep_metrics = self.restorer.sweep_metrics(self.device)

    def compute_sweep_metrics(self) -> list[dict]:
        """Sweep-level metrics (FID, KID) and unavailable notes as summary rows; every rank must call it."""
        return sweep_summary_rows(self.sweep_metrics or {}, self.restorer.methods)

    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[Restoration]:
        return self.restorer.restore(batch, sweep_metrics=self.sweep_metrics)


def restorer_module(
    checkpoint: str = "embedded",
    tasks: list[Task] | None = None,
    timesteps: int | None = None,
    eta: float | None = None,
    eta_b: float | None = None,
    samples: int = 1,
    baselines: list[str] | None = None,
    classifier: str | None = None,
    classifier_scale: float = 0.0,
    measurement: bool = False,
    geometry: str = "center_crop",
    cache_dir: str | None = None,
    channels_last: bool = False,
    compile: bool = False,
    clip_denoised: bool = False,
    method: str = "ddrm",
    method_params: dict | None = None,
    tile: int | str | None = None,
    tile_overlap: int | None = None,
    tile_batch: int | str = "auto",
    metrics: MetricsOptions | None = None,
) -> DDRMRestorer:
    """Restore images with DDRM (or another zero-shot sampler) and a pretrained diffusion prior.

    Args:
        checkpoint: ``embedded`` (shipped with the package), a zoo name (``celeba_hq``, …) or a path
            (published file, exported network, or a ``train.py`` checkpoint).
        tasks: the degradations to run on every image.
        timesteps: the sampler's steps (network evaluations); default: the method's own (DDRM on the
            embedded prior: 25, ``restoration.restorer.prior_settings``).
        eta, eta_b: DDRM's η and η_b in [0, 1] (DDNM, DDNM+ and ΠGDM take η too); default: published.
        samples: restorations per image from different seeds (the first is the one scored).
        baselines: classical baselines written beside the restoration: ``observed`` and/or ``wiener``.
        classifier, classifier_scale: guidance classifier (zoo name or path) and scale (0: off).
        measurement: images are already degraded (no ground truth); set from ``data.measurement``.
        geometry: the data's geometry (set from ``data.geometry``; ``pad``: results are cropped back).
        cache_dir: where named checkpoints are looked up / downloaded. channels_last, compile: run
            the network channels-last / ``torch.compile``d.
        clip_denoised: clamp the clean estimate to the image range every step (not in the paper).
        method: ``ddrm``, ``ddnm``, ``ddnm_plus``, ``pigdm``, ``diffpir`` or ``dps`` at its published
            settings, steps too; ``method_params`` override them (one it lacks: an error).
        tile, tile_overlap, tile_batch: run the network on overlapping tiles of side ``tile`` (blended,
            ``sampling.tiles``; ``auto``: the prior's training size; overlap default tile // 4),
            ``tile_batch`` per call (``auto``: sized to the cache/memory); None: whole image.
        metrics: the sweep-level metrics (set from ``--metrics.*``).
    """
    settings = SamplerSettings(
        timesteps=timesteps, eta=eta, eta_b=eta_b, clip_denoised=bool(clip_denoised), samples=int(samples),
        baselines=BASELINES if baselines is None else tuple(baselines), method=method,
        method_params=dict(method_params or {}),
    )
    restorer = Restorer(
        checkpoint, tasks, settings, classifier=classifier, classifier_scale=classifier_scale,
        measured=measurement, geometry=geometry, cache_dir=cache_dir, channels_last=channels_last,
        compile=compile, tile=tile, tile_overlap=tile_overlap, tile_batch=tile_batch, metrics=metrics,
    )
    return DDRMRestorer(restorer)
