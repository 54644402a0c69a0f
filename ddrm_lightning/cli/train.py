"""``train.py``: fine-tune or train a diffusion prior with LightningCLI (``run=False`` → ``trainer.fit``)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import CSVLogger

from ..callbacks.training import ExportEMA, LossPlot, ParameterCount, TrainProgressBar
from ..data.training import TrainingDataModule
from ..prior import PriorTraining
from .trainer import quiet_lightning


class TrainCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--out_dir", type=str, default="outputs/train", help="Logs, checkpoints, export, loss plot.")
        parser.add_argument("--export", type=str, default=None,
                            help="Where to write the EMA network alone (default <out_dir>/prior.pt).")
        parser.add_argument("--export_half", type=bool, default=False, help="Store the export in float16 (half size).")


def build_cli(args: list[str] | None = None) -> TrainCLI:
    # logger False: train.py sets its own CSV logger (Lightning's default one warns about TensorBoard).
    with warnings.catch_warnings():
        # main passes sys.argv (less --verbose) as args on purpose.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        return _train_cli(args)


def _train_cli(args: list[str] | None) -> TrainCLI:
    return TrainCLI(PriorTraining, TrainingDataModule, run=False, save_config_kwargs={"overwrite": True}, args=args,
                    parser_kwargs={"description": "Train or fine-tune a diffusion prior (docs: README, "
                                                  "'Training a prior'); --verbose shows Lightning's own messages."},
                    trainer_defaults={"gradient_clip_val": 1.0, "max_steps": 1000, "log_every_n_steps": 10,
                                      "logger": False, "callbacks": [TrainProgressBar(), ParameterCount()]})


# Mistakes of the user's (settings, files) found while the run is built: one line instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


def main(args: list[str] | None = None) -> int:
    try:
        return run(args)
    except KeyboardInterrupt:  # during start-up (Lightning handles it inside fit)
        print("\ntrain.py: interrupted by SIGINT; rerun the same command to resume from the last checkpoint",
              file=sys.stderr)
        return 130


def run(args: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if args is None else args)
    quiet_lightning("--verbose" in args)
    try:
        cli = build_cli([arg for arg in args if arg != "--verbose"])
    except USER_ERRORS as error:  # before anything is written
        print(f"train.py: error: {' '.join(str(error).split()) or type(error).__name__}", file=sys.stderr)
        return 2
    out_dir = Path(cli.config.out_dir)
    trainer = cli.trainer
    export = Path(cli.config.export or out_dir / "prior.pt")
    # The run's own logger and callbacks, wired here so every run has them whatever the config says.
    trainer.loggers = [CSVLogger(str(out_dir), name="logs")]
    plot = LossPlot(str(out_dir / "loss.png"))
    extra = [ExportEMA(str(export), half=cli.config.export_half), plot,
             ModelCheckpoint(dirpath=str(out_dir / "checkpoints"), save_last=True, every_n_train_steps=500)]
    trainer.callbacks.extend(extra)
    trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path="last" if (out_dir / "checkpoints" / "last.ckpt").exists() else None)
    if trainer.is_global_zero:
        curve = f"; loss curve {plot.path}" if plot.written else " (no loss curve: no step logged a loss)"
        print(f"EMA network written to {export}{curve}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
