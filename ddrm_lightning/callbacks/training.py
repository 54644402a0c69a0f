"""Callbacks of prior training: export the EMA network, plot the loss curve."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback, ModelSummary, RichProgressBar
from lightning.pytorch.utilities.model_summary import get_human_readable_count

from ..sweep_io import atomic_path


class ExportEMA(Callback):
    """At the end of training (and of every epoch), write the EMA network alone to ``path``.

    The file is what ``restore.py --model.prior <path>`` and ``load_model`` read.
    """

    def __init__(self, path: str, half: bool = False) -> None:
        self.path = Path(path)
        self.half = half

    def _write(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            export = pl_module.export()
            if self.half:  # halves the file; loading casts back to the network's float32 parameters
                export["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in export["state_dict"].items()}
            _atomic_save(export, self.path)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        self._write(trainer, pl_module)


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class LossPlot(Callback):
    """Draw the logged training loss to a PNG at the end: every run of this log folder, so a run
    resumed from ``last.ckpt`` (a new ``version_N`` of the CSV logger) draws the whole curve."""

    def __init__(self, path: str, metric: str = "train/loss", smooth: int = 50) -> None:
        self.path, self.metric, self.smooth = Path(path), metric, smooth
        self.written = False  # whether this run drew the plot (a run shorter than log_every_n_steps logs none)

    def on_train_end(self, trainer, pl_module) -> None:
        # The logger's own folder: ``trainer.log_dir`` broadcasts from rank 0, a collective that would
        # hang here, where only rank 0 gets (the others wait in ModelCheckpoint's barrier).
        log_dir = getattr(trainer.logger, "log_dir", None)
        if not trainer.is_global_zero or not log_dir:
            return
        trainer.logger.save()
        tables = run_tables(Path(log_dir))
        if read_loss(tables, self.metric):
            plot_loss(tables, self.path, self.metric, self.smooth)
            self.written = True


def run_tables(log_dir: Path) -> list[Path]:
    """The metrics.csv of ``log_dir`` and, when it is a logger's ``version_N``, of every earlier
    version beside it, oldest first."""
    def number(d: Path) -> int | None:
        return int(d.name[8:]) if d.name.startswith("version_") and d.name[8:].isdigit() else None

    folders = [log_dir]
    if number(log_dir) is not None:
        folders = sorted((d for d in log_dir.parent.iterdir() if number(d) is not None), key=number)
    return [d / "metrics.csv" for d in folders if (d / "metrics.csv").exists()]


def read_loss(tables: Path | list[Path], metric: str = "train/loss") -> list[tuple[int, float]]:
    """(step, loss) from CSVLogger tables; a later table's value of a step replaces an earlier one's
    (a run resumed from a checkpoint older than the last logged step logs those steps again)."""
    by_step: dict[int, float] = {}
    for table in [tables] if isinstance(tables, Path) else tables:
        with open(table, newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get(metric):
                    by_step[int(row["step"])] = float(row[metric])
    return sorted(by_step.items())


def plot_loss(tables: Path | list[Path], out_png: Path, metric: str = "train/loss", smooth: int = 50) -> Path:
    """Loss vs step (raw and moving average) from Lightning CSVLogger tables (see ``read_loss``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = read_loss(tables, metric)
    if not points:
        raise ValueError(f"no '{metric}' values in {tables}")
    steps, losses = [s for s, _ in points], [v for _, v in points]
    window = max(1, min(smooth, len(losses) // 5 or 1))
    averaged = [sum(losses[max(0, i - window + 1): i + 1]) / len(losses[max(0, i - window + 1): i + 1])
                for i in range(len(losses))]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, losses, alpha=0.3, label="loss")
    ax.plot(steps, averaged, label=f"moving average ({window})")
    ax.set_xlabel("step")
    ax.set_ylabel("ε-MSE")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out_png


class ParameterCount(ModelSummary):
    """One line of parameter counts at the start of training, instead of Lightning's summary table
    (whose FLOPs column reads 0 without an example input, and which warns about bf16)."""

    def on_fit_start(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        counts = {name: sum(p.numel() for p in child.parameters()) for name, child in pl_module.named_children()}
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        parts = ", ".join(f"{name} {get_human_readable_count(n).strip()}" for name, n in counts.items() if n)
        print(f"parameters: {parts} ({get_human_readable_count(trainable).strip()} trainable)")


class TrainProgressBar(RichProgressBar):
    """Lightning's rich bar, counting optimizer steps when training is bounded by ``max_steps``.

    Lightning labels the bar "Epoch e/max_epochs-1", which reads "Epoch 1/-2" when only
    ``max_steps`` bounds the run (max_epochs = -1), as in every recipe of this project, and counts the
    batches of the epoch, which after a resume in the middle of an epoch read "30/10". A step-bounded
    bar counts ``global_step`` out of ``max_steps`` instead.
    """

    def _step_bounded(self) -> bool:
        trainer = self.trainer
        epochs_bound = trainer.max_epochs is not None and trainer.max_epochs >= 0
        return not epochs_bound and trainer.max_steps is not None and trainer.max_steps > 0

    def _get_train_description(self, current_epoch: int) -> str:
        if self._step_bounded():
            return f"Epoch {current_epoch} · steps"
        trainer = self.trainer
        if trainer.max_epochs is not None and trainer.max_epochs >= 0:
            return super()._get_train_description(current_epoch)
        return f"Epoch {current_epoch}"

    @property
    def total_train_batches(self):
        return self.trainer.max_steps if self._step_bounded() else super().total_train_batches

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        if self._step_bounded():
            self._update(self.train_progress_bar_id, trainer.global_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self._step_bounded():
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self.is_disabled and self.train_progress_bar_id is None:  # resumed in the middle of an epoch
            self._initialize_train_progress_bar_id()
        self._update(self.train_progress_bar_id, trainer.global_step)
        self._update_metrics(trainer, pl_module)
