"""``restore.py``: its command line parsed once (a LightningCLI, ``run=False``), then ``sweep.run_sweep``.

Exit status of ``main``: 0 when at least one image is restored (failed images are
``status=error`` rows of ``metrics.csv``), 1 when none is or the sweep stopped on a
write failure (disk full, …), 2 for a bad setting (nothing is written), 128 + the
signal number (130 for SIGINT, 143 for SIGTERM) when interrupted; rerunning the same
command resumes. See docs/troubleshooting.md.
"""

from __future__ import annotations

import argparse
import signal
import sys
import warnings

import yaml
from lightning.pytorch.cli import LightningCLI

from .. import sweep_io
from ..callbacks import DDRMProgressBar
from ..data import RestorationDataModule
from ..metrics.options import MetricsOptions
from ..module import restorer_module
from ..restoration import RestorationSettings
from ..sweep import SweepInterrupted, SweepResult, run_sweep
from ..sweep.size_guard import MAX_OUTPUT_MEGAPIXELS
from .args import DEFAULT_CONFIG, rewrite
from .errors import clean, one_line
from .help import config_defaults, fill_help
from .trainer import RestoreTrainer, quiet_lightning

SHORTCUTS = (
    "shortcuts: restore.py PHOTO_OR_FOLDER --task sr4 [--sigma_y 0.05|auto] restores your own degraded photos "
    "(measurement mode; σ_y estimated from the photo unless given); --task NAME [--sigma_y S] sets one task; --device cpu|cuda|auto; "
    "--verbose shows Lightning's own messages; data sources: --data.source folder|hf|hf_stream|bundled, "
    "--data.root DIR (folder), --data.hf_path NAME [--data.hf_split S] [--data.streaming true] (Hugging Face), "
    "--data.names A B (bundled photos), --data.file_list FILE (docs/data.md)."
)
DESCRIPTION = ("Restore images with DDRM and a pretrained diffusion prior (a Lightning predict sweep). Without "
               "--config the demo sweep (ddrm_lightning/configs/default.yaml) is the starting point; its values "
               "are the defaults shown.")
# Mistakes of the user's (settings, files): one line on stderr instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, argparse.ArgumentError)


class RestoreCLI(LightningCLI):
    help_defaults: dict = {}  # the demo config's settings, shown by --help when no --config is given

    def add_arguments_to_parser(self, parser) -> None:
        fill_help(parser, "model", restorer_module)
        fill_help(parser, "model", RestorationSettings)
        parser.set_defaults(self.help_defaults)
        for action in parser._actions:  # the demo config gives them: not required (--help only)
            if getattr(action, "dest", None) in self.help_defaults:
                action.required = False
        parser.add_argument("--out_dir", type=str, default="outputs/restore", help="Output folder of the sweep.")
        parser.add_argument(
            "--overwrite", type=bool, default=False,
            help="Replace the results of an earlier run in out_dir (any configuration); files restore.py did "
                 "not write are kept.",
        )
        parser.add_argument("--report", type=bool, default=True, help="Write report.md / report.html at the end.")
        parser.add_argument(
            "--force", type=bool, default=False,
            help=f"Restore outputs above {MAX_OUTPUT_MEGAPIXELS:g} megapixels per image (refused otherwise: "
                 "memory and time grow with the output's pixels).",
        )
        parser.add_class_arguments(MetricsOptions, "metrics")
        parser.link_arguments("data.measured", "model.measured")
        parser.link_arguments("data.geometry", "model.geometry")
        parser.link_arguments("metrics", "model.metrics", apply_on="instantiate")

    def instantiate_trainer(self, **kwargs):
        # --trainer.enable_progress_bar false must not clash with the default progress bar.
        trainer_config = self.config_init.get("trainer") or {}
        if trainer_config.get("enable_progress_bar") is False:
            self.trainer_defaults = {**self.trainer_defaults, "callbacks": []}
        return super().instantiate_trainer(**kwargs)


class _ParseOnly(RestoreCLI):
    """Reads a command line into a configuration without building anything (``sweep_config``)."""

    def instantiate_classes(self) -> None:
        pass


def _cli(cls: type[RestoreCLI], args: list[str] | dict) -> RestoreCLI:
    with warnings.catch_warnings():
        # We pass sys.argv (plus the default config) or a configuration as args on purpose.
        warnings.filterwarnings("ignore", message=".*args parameter is intended to run from within Python.*")
        return cls(
            restorer_module,
            RestorationDataModule,
            trainer_class=RestoreTrainer,
            run=False,
            save_config_callback=None,
            auto_configure_optimizers=False,  # predict never optimizes: no --optimizer/--lr_scheduler
            args=args,
            # A parse error raises (one line from main) instead of printing the whole usage.
            parser_kwargs={"exit_on_error": False, "epilog": SHORTCUTS, "description": DESCRIPTION},
            trainer_defaults={"callbacks": [DDRMProgressBar()]},
        )


def _arguments(args: list[str] | None) -> list[str]:
    """restore.py's command line (``sys.argv`` when None) as LightningCLI reads it (``args.rewrite``:
    shortcuts, data sources, the names of earlier releases with their deprecation lines)."""
    rewritten = rewrite(list(sys.argv[1:] if args is None else args))
    quiet_lightning(rewritten.verbose)
    for note in rewritten.notes:
        print(note, file=sys.stderr)
    help_asked = any(arg in ("-h", "--help") for arg in rewritten.args)
    demo = f"--config={DEFAULT_CONFIG}" in rewritten.args
    RestoreCLI.help_defaults = config_defaults(DEFAULT_CONFIG) if help_asked and demo else {}
    return rewritten.args


def sweep_config(args: list[str] | None = None) -> dict:
    """restore.py's command line as a configuration, every setting resolved (what ``--print_config``
    shows), without building anything; ``run_config`` takes it, edited or not. Raises on a bad setting."""
    cli = _cli(_ParseOnly, _arguments(args))
    return yaml.safe_load(cli.parser.dump(cli.config, skip_none=False))


def run_config(config: list[str] | dict) -> SweepResult:
    """Build the sweep's objects from a command line already rewritten, or from a configuration
    (``sweep_config``'s), parsing it once, and run it (``sweep.run_sweep``)."""
    cli = _cli(RestoreCLI, config)
    settings = cli.config
    record = yaml.safe_load(cli.parser.dump(settings, skip_none=False))
    return run_sweep(cli.model, cli.datamodule, cli.trainer, out_dir=settings.out_dir, config=record,
                     overwrite=settings.overwrite, report=settings.report, force=settings.force)


def main(args: list[str] | None = None) -> int:
    """Run the sweep and return the exit status (see the module docstring)."""
    try:
        result = run_config(_arguments(args))
    except SweepInterrupted as stop:
        return 128 + stop.signum
    except sweep_io.OutputWriteError as error:
        print(f"restore.py: error: {one_line(error)}; the results written so far are kept: free space or fix "
              "the folder, then rerun the same command to resume", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        print(f"restore.py: error: {clean(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the sweep's own handler is installed (start-up) or after it is removed
        print("\nrestore.py: interrupted by SIGINT; rerun the same command to resume", file=sys.stderr)
        return 128 + signal.SIGINT
    return 0 if result.restored or result.rank != 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
