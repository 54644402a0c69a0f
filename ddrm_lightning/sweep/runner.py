"""``run_sweep``: one restoration sweep from built objects — the model, the data, the Trainer — into a folder.

It checks what needs no image (prior, tasks, output size, precision), takes ``out_dir``'s lock, records the
configuration (``config.yaml``, with what ``precision: auto`` resolved to) or refuses a folder holding
another one, resumes, runs ``trainer.predict`` with the writer, and ends with the summary and the report.
``restore.py`` (``cli.restore``) parses its command line once and calls it; the experiments call it the
same way for each of their entries.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lightning.pytorch.accelerators import CPUAccelerator, CUDAAccelerator

from .. import sweep_io
from ..callbacks import RestorationWriter
from ..data import RestorationDataModule
from ..module import DDRMRestorer
from ..reports.console import finish_line, print_summary
from ..restoration import precision as policy
from ..sweep_io.layout import image_path
from .size_guard import check_output_size, check_restorable
from .stop import GracefulStop, SweepInterrupted

# How long rank 0 of an interrupted DDP sweep waits for the other ranks to write their last batch.
CHILD_EXIT_TIMEOUT_S = 60.0


@dataclass
class SweepResult:
    """What a sweep left in ``out_dir``: the ids restored (on rank 0 of a DDP sweep; the other ranks
    return an empty set, rank 0 reports for them)."""

    out_dir: Path
    restored: set[str] = field(default_factory=set)
    rank: int = 0


def run_sweep(model: DDRMRestorer, data: RestorationDataModule, trainer, *, out_dir: str | Path, config: dict,
              overwrite: bool = False, report: bool = True, force: bool = False) -> SweepResult:
    """Restore ``data`` with ``model`` on ``trainer`` into ``out_dir``; ``config`` (the resolved settings,
    as restore.py's ``--print_config``) is what ``config.yaml`` records and a rerun is compared with.

    Raises ``ValueError`` (and the other user errors) for a bad setting before any work,
    ``sweep_io.OutputWriteError`` when out_dir cannot be written, ``SweepInterrupted`` on SIGINT/SIGTERM.
    """
    started = time.monotonic()
    out_dir = Path(out_dir)
    rank = trainer.global_rank
    resolved = check_before_work(model, data, trainer, force=force)
    record = {**config, sweep_io.out_dir.RESOLVED: {"precision": resolved}}
    # Rank 0 holds out_dir's lock until the run ends, however it ends; the other ranks are its children.
    lock = sweep_io.prepare_out_dir(out_dir, record, input_dirs=data.source.input_folders(), overwrite=overwrite,
                                    write=rank == 0)
    try:
        done = sweep_io.finished_ids(out_dir, [t.name for t in model.tasks])
        if done:
            data.exclude_ids(done)
            if rank == 0:
                print(f"Resuming in {out_dir}: {_images(len(done))} already restored skipped.")
        writer = RestorationWriter(str(out_dir))
        stop = GracefulStop()
        trainer.callbacks.extend([writer, stop])  # the writer takes each batch before the stop check
        stop.install()
        try:
            trainer.predict(model, datamodule=data, return_predictions=False)
        except SweepInterrupted as interrupted:
            if rank == 0:
                if _wait_for_other_ranks(trainer) and sweep_io.has_shards(out_dir):
                    sweep_io.merge(out_dir)  # their last batches
                restored = _restored_ids(out_dir)
                print(f"restore.py: {interrupted}; {_images(len(restored))} restored in "
                      f"{out_dir}: rerun the same command to resume (restored images are skipped)", file=sys.stderr)
                raise
            return SweepResult(out_dir, rank=rank)  # the other ranks' status would make Lightning's process observer kill rank 0
        finally:
            stop.uninstall()
        if rank != 0:
            return SweepResult(out_dir, rank=rank)
        return _finish(out_dir, writer, report, started)
    finally:
        lock.release()


def _finish(out_dir: Path, writer: RestorationWriter, report: bool, started: float) -> SweepResult:
    """Rank 0 after the loop: the summary (also when nothing was left to restore), report, console."""
    if not writer.merged:  # nothing was left to restore: Lightning skipped the loop's hooks
        writer.summary = sweep_io.summarize(sweep_io.merge(out_dir))
        sweep_io.write_summary(out_dir, writer.summary)
    if report:
        from ..reports import write_report

        write_report(out_dir)
    rows = sweep_io.read_metrics(out_dir / sweep_io.METRICS_CSV)
    print_summary(writer.summary or sweep_io.summarize(rows), out_dir, rows=rows, report=report)
    print(finish_line(out_dir, rows, time.monotonic() - started))
    restored = _restored_ids(out_dir)
    if not restored:
        print("restore.py: error: no image was restored; see the status and message columns of "
              f"{out_dir / sweep_io.METRICS_CSV}", file=sys.stderr)
    return SweepResult(out_dir, restored)


def device_kind(trainer) -> str:
    """``cpu``, ``cuda`` or ``other``: where the Trainer runs the network."""
    if isinstance(trainer.accelerator, CPUAccelerator):
        return "cpu"
    return "cuda" if isinstance(trainer.accelerator, CUDAAccelerator) else "other"


def check_before_work(model: DDRMRestorer, data: RestorationDataModule, trainer, force: bool = False) -> str:
    """Every check that needs no image: the checkpoint (loaded now when it is a file or
    cached), channels, the tasks' operators at the data's geometry, class labels, images too small
    for the prior, the precision on this device (a warning for bf16 that this CPU only emulates), the
    size of the outputs (from the images' headers; above the limit only with ``force``).
    Returns the precision the network will run in (``auto`` resolved), announced by rank 0."""
    restorer = model.restorer
    resolved, reason = restorer.resolve_precision(device_kind(trainer))
    if reason is not None:
        policy.announce(resolved, reason, rank=trainer.global_rank)
    # The first process of a node may download a zoo checkpoint (before any other rank exists);
    # elsewhere an uncached one is left to prepare_data.
    restorer.load(download=trainer.local_rank == 0)
    fixed_size = data.geometry != "pad" and not data.measured
    pad_multiple = data.pad_multiple if data.geometry == "pad" and not data.measured else None
    restorer.check_data(data.channels, tuple(data.image_size) if fixed_size else None,
                        has_labels=data.source.has_labels, pad_multiple=pad_multiple)
    if data.source.ids_known_locally:
        check_output_names(data.all_ids() or [])
    say = lambda line: print(line, file=sys.stderr) if trainer.global_rank == 0 else None  # noqa: E731
    check_restorable(model, data, say=say)
    on_cpu = isinstance(trainer.accelerator, CPUAccelerator)
    warning = policy.emulated_bf16_warning(resolved, "cpu") if on_cpu and trainer.global_rank == 0 else None
    if warning:  # before any work: the sweep would run several times slower than in fp32
        say(f"restore.py: warning: {warning} (--model.precision auto or fp32)")
    steps = model.settings.nfe * model.settings.samples
    check_output_size(model, data, steps=steps, on_cpu=on_cpu, force=force, precision=resolved, say=say)
    return resolved


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
