"""``DDRMRestorer``: the LightningModule whose predict step is a ``Restorer``'s restoration.

It receives a ``restoration.Restorer`` (as the lightning-hydra-template's modules receive their
``net``) and only wires Lightning's hooks to it; every rule of how a restoration is set up lives
in the ``Restorer``. ``restorer_module`` builds both from ``restore.py``'s ``--model.*`` settings
(``RestorationSettings``) through ``restoration.build_restorer``.
A prediction is a list of per-(sample, task) ``Restoration`` records that
``callbacks.RestorationWriter`` turns into files.
"""

from __future__ import annotations

import inspect
import typing

import lightning as L

from .metrics.options import MetricsOptions
from .restoration import BASELINES, Restoration, RestorationSettings, Restorer, Task, build_restorer
from .restoration.scores import sweep_summary_rows


class DDRMRestorer(L.LightningModule):
    """Lightning's hooks around a ``Restorer``: fetch in ``prepare_data``, build the network in
    ``configure_model``, the device and the sweep metrics at predict start, restore
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
        # The network's precision is the Restorer's (``--model.precision``); the Trainer stays in float32.
        self.restorer.run_on(self.device)
        if self.sweep_metrics is None:
            self.sweep_metrics = self.restorer.sweep_metrics(self.device)

    def compute_sweep_metrics(self) -> list[dict]:
        """Sweep-level metrics (FID, KID) and unavailable notes as summary rows; every rank must call it."""
        return sweep_summary_rows(self.sweep_metrics or {}, self.restorer.methods)

    def predict_step(self, batch: dict, batch_idx: int = 0) -> list[Restoration]:
        return self.restorer.restore(batch, sweep_metrics=self.sweep_metrics)


def restorer_module(
    tasks: list[Task] | None = None,
    baselines: list[str] | None = None,
    measured: bool = False,
    geometry: str = "center_crop",
    metrics: MetricsOptions | None = None,
    **settings,
) -> DDRMRestorer:
    """Restore images with DDRM (or another zero-shot sampler) and a pretrained diffusion prior.

    restore.py's ``--model.*``: ``tasks`` and ``baselines``, then every field of
    ``restoration.RestorationSettings`` under its own name (this function's signature is made from it).

    Args:
        tasks: the degradations to run on every image.
        baselines: classical baselines written beside the restoration: ``observed`` and/or ``wiener``.
        measured: images are already degraded (no ground truth); set from ``data.measured``.
        geometry: the data's geometry (set from ``data.geometry``; ``pad``: results are cropped back).
        metrics: the sweep-level metrics (set from ``--metrics.*``).
    """
    restorer = build_restorer(
        RestorationSettings(**settings), tasks, baselines=BASELINES if baselines is None else tuple(baselines),
        measured=measured, geometry=geometry, metrics=metrics,
    )
    return DDRMRestorer(restorer)


def _signature() -> inspect.Signature:
    """restorer_module's own arguments, then one keyword per ``RestorationSettings`` field with its type and
    default, so that jsonargparse (restore.py's ``--model.*``) reads each setting where its default is written."""
    own = [p for p in inspect.signature(restorer_module).parameters.values() if p.kind is not p.VAR_KEYWORD]
    hints = typing.get_type_hints(restorer_module)
    own = [p.replace(annotation=hints[p.name]) for p in own]
    defaults, types = RestorationSettings.defaults(), RestorationSettings.types()
    fields = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=types[name])
              for name in RestorationSettings.names()]
    return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + fields,
                             return_annotation=DDRMRestorer)


restorer_module.__signature__ = _signature()
