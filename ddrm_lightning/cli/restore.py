"""``restore.py``: the restoration sweep as a LightningCLI (``run=False``) around ``trainer.predict``.

Exit status of ``main``: 0 when at least one image is restored (failed images are
``status=error`` rows of ``metrics.csv``), 1 when none is or the sweep stopped on a
write failure (disk full, …), 2 for a bad setting (nothing is written), 128 + the
signal number (130 for SIGINT, 143 for SIGTERM) when interrupted; rerunning the same
command resumes. See docs/troubleshooting.md.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from lightning.pytorch import Callback
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.cli import LightningCLI

from .. import sweep_io
from ..callbacks import DDRMProgressBar, RestorationWriter
from ..data import RestorationDataModule
from ..metrics.options import MetricsOptions
from ..module import DDRMRestorer, restorer_module
from ..reports.console import finish_line, print_summary
from ..restoration.core import listen_to_steps, stop_listening
from ..restoration.precision import from_lightning
from ..sweep_io.layout import image_path
from .args import DEFAULT_CONFIG, rewrite
from .help import config_defaults, fill_help
from .size_guard import MAX_OUTPUT_MEGAPIXELS, check_output_size, check_restorable
from .trainer import RestoreTrainer, quiet_lightning

SHORTCUTS = (
    "shortcuts: restore.py PHOTO_OR_FOLDER --task sr4 [--sigma_y 0.05] restores your own degraded photos "
    "(measurement mode); --task NAME [--sigma_y S] sets one task; --device cpu|cuda|auto; "
    "--verbose shows Lightning's own messages; data sources: --data.source folder|hf|hf_stream|bundled, "
    "--data.root DIR (folder), --data.hf_path NAME [--data.hf_split S] [--data.streaming true] (Hugging Face), "
    "--data.names A B (bundled photos), --data.file_list FILE (docs/data.md)."
)
DESCRIPTION = ("Restore images with DDRM and a pretrained diffusion prior (a Lightning predict sweep). Without "
               "--config the demo sweep (ddrm_lightning/configs/default.yaml) is the starting point; its values "
               "are the defaults shown.")
# Mistakes of the user's (settings, files): one line on stderr instead of a traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, argparse.ArgumentError)
# How long rank 0 of an interrupted DDP sweep waits for the other ranks to write their last batch.
CHILD_EXIT_TIMEOUT_S = 60.0


class SweepInterrupted(Exception):
    """SIGINT/SIGTERM arrived; the sweep stopped after writing the batch in progress."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class GracefulStop(Callback):
    """Turns SIGINT/SIGTERM into a stop at the next sampler step or batch end.

    The handler only sets a flag (Lightning's predict loop does not look at
    ``trainer.should_stop``); the sampler's next step (one large photo can take hours) or the
    end of a batch, after the writer has taken it, raises ``SweepInterrupted``, so the writer
    flushes and merges what is done; an image stopped between steps has no row and is
    restored again on resume. A second SIGINT stops at once (KeyboardInterrupt).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        print(
            f"\nrestore.py: {signal.Signals(signum).name} received: stopping at the next sampler step "
            "(Ctrl-C again stops at once)",
            file=sys.stderr, flush=True,
        )

    def on_predict_start(self, trainer, pl_module) -> None:
        listen_to_steps(self._after_step)

    def on_predict_end(self, trainer, pl_module) -> None:
        stop_listening(self._after_step)

    def on_exception(self, trainer, pl_module, exception) -> None:
        stop_listening(self._after_step)

    def _after_step(self, step: int, total: int) -> None:
        self.between_steps()

    def between_steps(self) -> None:
        if self.signum is not None:
            raise SweepInterrupted(self.signum)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.between_steps()


class RestoreCLI(LightningCLI):
    help_defaults: dict = {}  # the demo config's settings, shown by --help when no --config is given

    def add_arguments_to_parser(self, parser) -> None:
        fill_help(parser, "model", restorer_module)
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
        parser.link_arguments("data.measurement", "model.measurement")
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


def sweep_config(args: list[str] | None = None) -> dict:
    """restore.py's command line (``sys.argv`` when None) as the configuration ``run_sweep`` takes:
    shortcuts rewritten (``args.rewrite``), the demo sweep's config unless the line gives one, every
    setting resolved — what ``--print_config`` shows. Raises on a bad setting."""
    rewritten = rewrite(list(sys.argv[1:] if args is None else args))
    quiet_lightning(rewritten.verbose)
    for note in rewritten.notes:
        print(note, file=sys.stderr)
    help_asked = any(arg in ("-h", "--help") for arg in rewritten.args)
    demo = f"--config={DEFAULT_CONFIG}" in rewritten.args
    RestoreCLI.help_defaults = config_defaults(DEFAULT_CONFIG) if help_asked and demo else {}
    cli = _cli(_ParseOnly, rewritten.args)
    return yaml.safe_load(cli.parser.dump(cli.config, skip_none=False))


@dataclass
class SweepResult:
    """What a sweep left in ``out_dir``: the ids restored (on rank 0 of a DDP sweep; the other ranks
    return an empty set, rank 0 reports for them)."""

    out_dir: Path
    restored: set[str] = field(default_factory=set)
    rank: int = 0


def main(args: list[str] | None = None) -> int:
    """Run the sweep and return the exit status (see the module docstring)."""
    try:
        result = run_sweep(sweep_config(args))
    except SweepInterrupted as stop:
        return 128 + stop.signum
    except sweep_io.OutputWriteError as error:
        print(f"restore.py: error: {_one_line(error)}; the results written so far are kept: free space or fix "
              "the folder, then rerun the same command to resume", file=sys.stderr)
        return 1
    except USER_ERRORS as error:
        print(f"restore.py: error: {_clean(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the sweep's own handler is installed (start-up) or after it is removed
        print("\nrestore.py: interrupted by SIGINT; rerun the same command to resume", file=sys.stderr)
        return 128 + signal.SIGINT
    return 0 if result.restored or result.rank != 0 else 1


def run_sweep(config: dict) -> SweepResult:
    """Run one sweep from a configuration (``sweep_config``'s, or a dict of the same shape).

    Raises ``ValueError`` (and the other ``USER_ERRORS``) for a bad setting before any work,
    ``sweep_io.OutputWriteError`` when out_dir cannot be written, ``SweepInterrupted`` on SIGINT/SIGTERM.
    """
    started = time.monotonic()
    cli = _cli(RestoreCLI, config)
    config = cli.config
    out_dir = Path(config.out_dir)
    model, data, trainer = cli.model, cli.datamodule, cli.trainer
    check_before_work(model, data, trainer, force=config.force)
    resolved = yaml.safe_load(cli.parser.dump(config, skip_none=False))
    # Rank 0 holds out_dir's lock until the run ends, however it ends; the other ranks are its children.
    lock = sweep_io.prepare_out_dir(out_dir, resolved, input_dirs=input_folders(data), overwrite=config.overwrite,
                           write=trainer.global_rank == 0)
    try:
        done = sweep_io.finished_ids(out_dir, [t.name for t in model.tasks])
        if done:
            data.exclude_ids(done)
            if trainer.global_rank == 0:
                print(f"Resuming in {out_dir}: {_images(len(done))} already restored skipped.")
        writer = RestorationWriter(str(out_dir))
        stop = GracefulStop()
        trainer.callbacks.extend([writer, stop])  # the writer takes each batch before the stop check
        stop.install()
        try:
            trainer.predict(model, datamodule=data, return_predictions=False)
        except SweepInterrupted as interrupted:
            if trainer.global_rank == 0:
                if _wait_for_other_ranks(trainer) and sweep_io.has_shards(out_dir):
                    sweep_io.merge(out_dir)  # their last batches
                restored = _restored_ids(out_dir)
                print(f"restore.py: {interrupted}; {_images(len(restored))} restored in "
                      f"{out_dir}: rerun the same command to resume (restored images are skipped)", file=sys.stderr)
                raise
            return SweepResult(out_dir, rank=trainer.global_rank)  # the other ranks' status would make Lightning's process observer kill rank 0
        finally:
            stop.uninstall()
        if trainer.global_rank != 0:
            return SweepResult(out_dir, rank=trainer.global_rank)
        if not writer.merged:  # nothing was left to restore: Lightning skipped the loop's hooks
            writer.summary = sweep_io.summarize(sweep_io.merge(out_dir))
            sweep_io.write_summary(out_dir, writer.summary)
        if config.report:
            from ..reports import write_report

            write_report(out_dir)
        rows = sweep_io.read_metrics(out_dir / sweep_io.METRICS_CSV)
        print_summary(writer.summary or sweep_io.summarize(rows), out_dir, rows=rows, report=config.report)
        print(finish_line(out_dir, rows, time.monotonic() - started))
        restored = _restored_ids(out_dir)
        if not restored:
            print("restore.py: error: no image was restored; see the status and message columns of "
                  f"{out_dir / sweep_io.METRICS_CSV}", file=sys.stderr)
        return SweepResult(out_dir, restored)
    finally:
        lock.release()


def check_before_work(model: DDRMRestorer, data: RestorationDataModule, trainer, force: bool = False) -> None:
    """Every check that needs no image: the checkpoint (loaded now when it is a file or
    cached), channels, the tasks' operators at the data's geometry, class labels, images too small
    for the prior, the size of the outputs (from the images' headers; above the limit only with ``force``)."""
    # The first process of a node may download a zoo checkpoint (before any other rank exists);
    # elsewhere an uncached one is left to prepare_data.
    restorer = model.restorer
    restorer.load(download=trainer.local_rank == 0)
    fixed_size = data.geometry != "pad" and not data.measurement
    pad_multiple = data.pad_multiple if data.geometry == "pad" and not data.measurement else None
    restorer.check_data(data.channels, tuple(data.image_size) if fixed_size else None,
                        has_labels=data.source.has_labels, pad_multiple=pad_multiple)
    if data.source.ids_known_locally:
        check_output_names(data.all_ids() or [])
    say = lambda line: print(line, file=sys.stderr) if trainer.global_rank == 0 else None  # noqa: E731
    check_restorable(model, data, say=say)
    steps = model.settings.steps * model.settings.samples
    check_output_size(model, data, steps=steps, on_cpu=isinstance(trainer.accelerator, CPUAccelerator), force=force,
                      precision=from_lightning(trainer.precision), say=say)


def check_output_names(ids: list[str]) -> None:
    """Refuse ids whose pictures would land on one file (``a.jpg`` and ``a.png`` both give ``a.png``)."""
    seen: dict[Path, str] = {}
    for sample_id in ids:
        target = image_path("", "restored", sample_id)
        if target in seen:
            raise ValueError(
                f"images '{seen[target]}' and '{sample_id}' would both be written as {target.name}: rename one, "
                "or leave one out with --data.file_list"
            )
        seen[target] = sample_id


def input_folders(data: RestorationDataModule) -> list[str]:
    """Local folders the sweep reads, which out_dir must stay out of."""
    return data.source.input_folders()


def _images(count: int) -> str:
    return f"{count} image" if count == 1 else f"{count} images"


def _restored_ids(out_dir: Path) -> set[str]:
    return {r.id for r in sweep_io.read_metrics(out_dir / sweep_io.METRICS_CSV) if r.is_restoration and r.ok}


def _wait_for_other_ranks(trainer) -> bool:
    """Rank 0 of a DDP sweep started the other ranks: let them write their last batch and exit.
    Returns whether there were any."""
    procs = getattr(trainer.strategy.launcher, "procs", None) or []
    for proc in procs:
        try:
            proc.wait(timeout=CHILD_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # e.g. waiting in a barrier for rank 0: its shards are written
            proc.kill()
            proc.wait()
    return bool(procs)


_PARSER_KEY = re.compile(r'^Parser key "([^"]+)":')
_NOT_ACCEPTED = re.compile(r"Problem with given class_path '([\w.]+)':\s*Option '(\w+)' is not accepted")
_TASK_KEY = re.compile(r"Option '(\w+)' is not accepted")
# Lines of jsonargparse's nested messages that say how it parsed, not what is wrong.
_PLUMBING = (
    "Does not validate against any of the Union subtypes", "Subtypes:", "Errors:", "Given value type:",
    "Given value:", "Expected a <class 'NoneType'>", "Expected a path but",
)


def _clean(error: BaseException) -> str:
    """One line from jsonargparse's multi-line messages: the option and the reasons, without the plumbing."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    option = None
    if lines and (match := _PARSER_KEY.match(lines[0])):
        option, lines[0] = f"--{match.group(1)}", lines[0][match.end():].strip()
    reasons = []
    for line in lines:
        line = line[2:].strip() if line.startswith("- ") else line
        if line and not line.startswith(_PLUMBING) and not line.endswith(":") and line not in reasons:
            reasons.append(line)
    text = "; ".join(reasons) or " ".join(str(error).split()) or type(error).__name__
    text = re.sub(r"Expected a <class '([\w.]+)'>\. Got value: ", r"expected \1, got ", text)
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    if given is not None:  # an optional setting (int | None): the value is on a line of its own
        text = re.sub(r"Expected a <class '([\w.]+)'>(?!\. Got)", lambda m: f"expected {m.group(1)}, got {given}", text)
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    line = f"{option}: {text}" if option else text
    if (match := _NOT_ACCEPTED.search(str(error))) and option == "--data.source":
        line = _not_a_setting(match.group(1), match.group(2)) or line
    elif (match := _TASK_KEY.search(str(error))) and option == "--model.tasks":
        line = _not_a_task_key(match.group(1))
    if isinstance(error, argparse.ArgumentError) or "unrecognized arguments" in line:
        line += " (restore.py --help lists the options)"
    return line


def _not_a_task_key(name: str) -> str:
    """A task's keys, for a key it does not have (``sigmay``), with the nearest one."""
    import dataclasses
    import difflib

    from ..restoration import Task

    keys = [f.name for f in dataclasses.fields(Task)]
    near = difflib.get_close_matches(name, keys, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"--model.tasks: '{name}' is not a key of a task{hint}; a task's keys: {', '.join(keys)}"


def _not_a_setting(class_path: str, name: str) -> str | None:
    """A data source component's settings, for a setting it does not take."""
    from ..data.components import source_class

    try:
        component = source_class(class_path)
    except ValueError:
        return None
    return (f"--data.source: {name} is not a setting of the {component.short_name} source ({component.__name__}); "
            f"its settings: {', '.join(component.settings())}")


def _one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split()) or type(error).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
