"""Reliability of whole restore.py runs: interrupted sweeps (signals, SIGKILL) and distributed edge cases.

A sweep stopped any way and rerun with the same command must end with every id exactly
once in metrics.csv and the numbers of an uninterrupted sweep; a 2-process DDP sweep must
equal a 1-process one whatever the split (fewer images than processes, a batch larger
than the data, a stream of unknown length). Subprocess runs are marked slow.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import restore_args, tiny_training_config, write_images
from PIL import Image

from ddrm_lightning.callbacks import RestorationWriter
from ddrm_lightning.cli import main
from ddrm_lightning.sweep import GracefulStop
from ddrm_lightning.sweep_io.layout import image_path
from conftest import RESTORED

ROOT = Path(__file__).resolve().parents[1]
ONE_TASK = ["--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]']
TASK = "deno_sigma0.1"
# Slow enough (about 0.3 s an image here) that a signal sent after the first batch finds work left.
SLOW = [*ONE_TASK, "--model.steps", "60", "--data.batch_size", "1", "--trainer.enable_progress_bar", "false"]


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def numbers(rows: list[dict]) -> dict:
    """(id, task, method) -> metric values, without timings."""
    return {(r["id"], r["task"], r["method"]): tuple(r[k] for k in ("psnr", "ssim", "consistency", "seed"))
            for r in rows}


# 1e-5: see tests/test_restore.py assert_same_numbers (float32 summation order, not a dependence).
def assert_complete_and_equal(out: Path, reference: Path, tol: float = 1e-5) -> None:
    """Every id exactly once per (task, method), with the reference's numbers; no leftovers."""
    rows, expected = read_csv(out / "metrics.csv"), read_csv(reference / "metrics.csv")
    assert len(rows) == len({(r["id"], r["task"], r["method"]) for r in rows})
    assert all(r["status"] in RESTORED for r in rows)
    got, want = numbers(rows), numbers(expected)
    assert got.keys() == want.keys()
    for key in want:
        for x, y in zip(got[key], want[key]):
            assert float(x) == pytest.approx(float(y), abs=tol), key
    assert not (out / "shards").exists() and not list(out.rglob("*.tmp"))


def restore_process(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "restore.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_new_shard(out: Path, proc: subprocess.Popen, before: set, timeout: float = 120.0) -> None:
    """Block until the running sweep has written a shard not in ``before``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shards = set((out / "shards").glob("rank*.csv")) if (out / "shards").is_dir() else set()
        if shards - before:
            return
        if proc.poll() is not None:
            pytest.fail(f"restore.py ended (code {proc.returncode}) before writing a shard: {proc.stderr.read()[-3000:]}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no shard appeared in time")


@pytest.fixture(scope="module")
def eight(tmp_path_factory) -> tuple[Path, Path]:
    """Eight images and their uninterrupted sweep (the reference)."""
    base = tmp_path_factory.mktemp("eight")
    write_images(base / "in", 8, seed=3)
    return base / "in", base / "reference"


@pytest.fixture(scope="module")
def reference(eight, tiny_prior) -> Path:
    folder, out = eight
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 0
    return out


def test_sigint_stops_after_the_batch_and_the_rerun_completes(tiny_prior, eight, reference, tmp_path, monkeypatch,
                                                              capsys):
    """Ctrl-C after the first batch (in-process: the handler replaces Python's KeyboardInterrupt)."""
    folder, _ = eight
    real_write = RestorationWriter.write_on_batch_end
    sent = []

    def write_then_interrupt(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(RestorationWriter, "write_on_batch_end", write_then_interrupt)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 128 + signal.SIGINT
    err = capsys.readouterr().err
    assert "SIGINT" in err and "rerun the same command to resume" in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back
    assert not (out / ".lock").exists()  # and the folder
    rows = read_csv(out / "metrics.csv")  # the first batch, flushed and merged
    assert {r["id"] for r in rows} == {"im0.png"} and not (out / "shards").exists()
    assert image_path(out / TASK, "restored", "im0.png").exists()
    first = image_path(out / TASK, "restored", "im0.png").stat().st_mtime_ns

    monkeypatch.setattr(RestorationWriter, "write_on_batch_end", real_write)
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 0
    assert "1 image already restored" in capsys.readouterr().out
    assert image_path(out / TASK, "restored", "im0.png").stat().st_mtime_ns == first  # not redone
    assert_complete_and_equal(out, reference)
    # Once more: nothing is left to do, and the tables stay whole.
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 0
    assert "8 images already restored" in capsys.readouterr().out
    assert_complete_and_equal(out, reference)


def test_sigint_stops_between_sampler_steps_and_the_photo_is_redone(tiny_prior, eight, reference, tmp_path,
                                                                   monkeypatch, capsys):
    """Ctrl-C in the middle of an image's steps (one huge photo is one batch): the sweep stops at the
    next step, not at the end of the batch; that image has no row and is restored on resume."""
    folder, _ = eight
    real_write, real_check = RestorationWriter.write_on_batch_end, GracefulStop.between_steps
    written, checks = [], []

    def write(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        written.append(True)

    def between_steps(self):
        if written:
            checks.append(True)
            if len(checks) == 10:  # the second image, 10 of its 60 steps done
                os.kill(os.getpid(), signal.SIGINT)
        real_check(self)

    monkeypatch.setattr(RestorationWriter, "write_on_batch_end", write)
    monkeypatch.setattr(GracefulStop, "between_steps", between_steps)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 128 + signal.SIGINT
    assert len(checks) == 10 and len(written) == 1  # stopped at once, not after the 60 steps
    assert "stopping at the next sampler step" in capsys.readouterr().err
    assert {r["id"] for r in read_csv(out / "metrics.csv")} == {"im0.png"}
    assert not image_path(out / TASK, "restored", "im1.png").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    monkeypatch.undo()
    assert main(restore_args(tiny_prior, folder, out, *SLOW)) == 0
    assert "1 image already restored" in capsys.readouterr().out
    assert_complete_and_equal(out, reference)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["restore.py", "train.py"])
def test_ctrl_c_during_start_up_is_one_line_not_a_traceback(script, tiny_prior, eight, tmp_path):
    """SIGINT while the libraries load and while the run is being set up (it used to print 36–86 lines)."""
    folder, _ = eight
    if script == "restore.py":
        args = restore_args(tiny_prior, folder, tmp_path / "out", *SLOW)
    else:
        args = ["--config", str(tiny_training_config(tmp_path)), "--trainer.max_steps", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for delay in (1.0, 3.0):
        # As from a terminal: SIGINT not ignored (a background job of a shell inherits it ignored).
        proc = subprocess.Popen([sys.executable, str(ROOT / script), *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        finally:
            proc.kill()
        lines = [line for line in err.splitlines() if line.strip() and not line.startswith("precision auto")]
        assert "Traceback" not in err and len(lines) <= 2, (delay, err[-3000:])
        assert proc.returncode in (128 + signal.SIGINT, 1, -signal.SIGINT), (delay, proc.returncode, err[-3000:])


@pytest.mark.slow
def test_sigterm_then_sigkill_then_rerun_gives_the_uninterrupted_results(tiny_prior, eight, reference, tmp_path):
    folder, _ = eight
    out = tmp_path / "out"
    args = restore_args(tiny_prior, folder, out, *SLOW)

    # SIGTERM: stops cleanly after the batch in progress, with everything done merged.
    proc = restore_process(args, tmp_path)
    wait_for_new_shard(out, proc, set())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM" in err and "rerun the same command to resume" in err
    assert not (out / "shards").exists() and not (out / ".lock").exists()
    after_term = {r["id"] for r in read_csv(out / "metrics.csv")}
    assert 1 <= len(after_term) < 8

    # SIGKILL, the same command: no chance to clean up; shards and maybe temporaries stay.
    proc = restore_process(args, tmp_path)
    wait_for_new_shard(out, proc, set())
    proc.kill()
    proc.communicate(timeout=60)
    assert list((out / "shards").glob("rank*.csv"))
    assert (out / ".lock").exists()  # left behind by the killed run: stale, taken over below

    # The same command once more, to the end.
    assert main(args) == 0
    assert not (out / ".lock").exists()
    assert_complete_and_equal(out, reference)
    for sample_id in (f"im{i}.png" for i in range(8)):
        for kind in ("restored", "degraded", "original", "observed", "wiener"):
            assert image_path(out / TASK, kind, sample_id).exists()


# -------------------------------------------------------------------------------- DDP
def run_ddp(args: list[str], cwd: Path) -> None:
    args = list(args)
    args[args.index("--trainer.devices") + 1] = "2"
    proc = restore_process([*args, "--trainer.strategy", "ddp", "--trainer.enable_progress_bar", "false"], cwd)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]


@pytest.mark.slow
def test_ddp_with_fewer_images_than_processes_and_a_batch_larger_than_the_data(tiny_prior, tmp_path):
    """1 image, 2 processes, batch size 4: one rank has nothing to do (Lightning's sampler would refuse it)."""
    write_images(tmp_path / "in", 1)
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(restore_args(tiny_prior, tmp_path / "in", one, "--data.batch_size", "4")) == 0
    run_ddp(restore_args(tiny_prior, tmp_path / "in", two, "--data.batch_size", "4"), tmp_path)
    assert {r["id"] for r in read_csv(two / "metrics.csv")} == {"im0.png"}
    assert_complete_and_equal(two, one)
    assert (two / "summary.csv").exists()


@pytest.mark.slow
def test_ddp_on_a_stream_of_unknown_length(tiny_prior, tmp_path):
    """5 images of a save_to_disk dataset read with --data.streaming true, 2 processes, batch size 8."""
    datasets = pytest.importorskip("datasets")
    images = [Image.open(p).convert("RGB") for p in write_images(tmp_path / "png", 5, seed=4)]
    datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()})).save_to_disk(
        tmp_path / "ds")

    def args(out: Path) -> list[str]:
        a = restore_args(tiny_prior, tmp_path, out, "--data.batch_size", "8", "--data.streaming", "true",
                         "--data.hf_split", "train")
        a[a.index("--data.root") : a.index("--data.root") + 2] = ["--data.hf_path", str(tmp_path / "ds")]
        return a

    one, two = tmp_path / "one", tmp_path / "two"
    assert main(args(one)) == 0
    run_ddp(args(two), tmp_path)
    assert sorted({r["id"] for r in read_csv(two / "metrics.csv")}) == ["0", "1", "2", "3", "4"]
    assert_complete_and_equal(two, one)
