"""``restore.py``: the restoration sweep as a LightningCLI (``run=False``) around ``trainer.predict``."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from lightning.pytorch.cli import LightningCLI

from . import results
from .callbacks import DDRMProgressBar, RestorationWriter
from .data import RestorationDataModule
from .module import DDRMRestorer
from .options import MetricsOptions
from .outputs import prepare_out_dir
from .summary_table import print_summary

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
# Mistakes of the user's (settings, files): one line on stderr instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


class RestoreCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument("--out_dir", type=str, default="outputs/restore", help="Output folder of the sweep.")
        parser.add_argument(
            "--overwrite", type=bool, default=False,
            help="Reuse an out_dir written with a different configuration (its results are replaced).",
        )
        parser.add_argument("--report", type=bool, default=True, help="Write report.md / report.html at the end.")
        parser.add_class_arguments(MetricsOptions, "metrics")
        parser.link_arguments("data.measurement", "model.measurement")


def with_default_config(args: list[str] | None) -> list[str]:
    """The demo sweep's config comes first unless the user gives a --config of their own."""
    args = list(sys.argv[1:] if args is None else args)
    if any(a == "--config" or a.startswith("--config=") for a in args):
        return args
    return ["--config", str(DEFAULT_CONFIG), *args]


def build_cli(args: list[str] | None = None) -> RestoreCLI:
    return RestoreCLI(
        DDRMRestorer,
        RestorationDataModule,
        run=False,
        save_config_callback=None,
        args=with_default_config(args),
        trainer_defaults={
            "logger": False,
            "enable_checkpointing": False,
            "inference_mode": False,  # classifier guidance needs autograd inside predict
            "callbacks": [DDRMProgressBar()],
        },
    )


def main(args: list[str] | None = None) -> int:
    """Run the sweep; exit status 1 when not a single image was restored, 2 for a bad setting."""
    try:
        return run(args)
    except USER_ERRORS as error:
        print(f"restore.py: error: {_one_line(error)}", file=sys.stderr)
        return 2


def run(args: list[str] | None = None) -> int:
    cli = build_cli(args)
    config = cli.config
    out_dir = Path(config.out_dir)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    model.metrics_options = cli.config_init.metrics
    fixed_size = data.geometry != "pad" and not data.measurement
    model.check_tasks(data.channels, tuple(data.image_size) if fixed_size else None)
    resolved = yaml.safe_load(cli.parser.dump(config, skip_none=False))
    prepare_out_dir(out_dir, resolved, input_dirs=[data.root] if getattr(data, "root", None) else [], overwrite=config.overwrite,
                    write=trainer.global_rank == 0)
    done = results.finished_ids(out_dir, [t.name for t in model.tasks])
    if done:
        data.exclude_ids(done)
        if trainer.global_rank == 0:
            print(f"Resuming in {out_dir}: {len(done)} images already restored are skipped.")
    writer = RestorationWriter(str(out_dir))
    trainer.callbacks.append(writer)
    trainer.predict(model, datamodule=data, return_predictions=False)
    if trainer.global_rank != 0:
        return 0
    if config.report:
        from .reports import write_report

        write_report(out_dir)
    print_summary(writer.summary or results.summarize(results.read_rows(out_dir / "metrics.csv")), out_dir)
    restored = [r for r in results.read_rows(out_dir / "metrics.csv") if r["method"] == "ddrm" and r["status"] == "ok"]
    return 0 if restored else 1


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
