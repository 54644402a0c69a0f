"""The output folder: --overwrite leaves exactly the new run (and nothing of the user's is lost),
and one run at a time holds it (out_dir/.lock)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import restore_args, write_images

from ddrm_lightning.sweep_io import lock as outputs
from ddrm_lightning.callbacks import RestorationWriter
from ddrm_lightning.cli import main
from ddrm_lightning.sweep_io import OutDirLock, OutputDirError, OutputDirInUse, prepare_out_dir
from ddrm_lightning.sweep_io.lock import LOCK_NAME
from ddrm_lightning.sweep_io.out_dir import clear_previous_run

ROOT = Path(__file__).resolve().parents[1]
TWO_TASKS = ["--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}, {"operator": "sr2", "sigma_y": 0.05}]']
ONE_TASK = ["--model.tasks", '[{"operator": "deno", "sigma_y": 0.1}]']


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def errors_of(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith("restore.py: error")]


def tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- overwrite
def test_overwrite_leaves_exactly_the_new_run_and_keeps_the_users_files(tiny_prior, tmp_path):
    write_images(tmp_path / "twelve", 12)
    write_images(tmp_path / "two", 2, seed=5)
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, tmp_path / "twelve", out, *TWO_TASKS, "--report", "true")) == 0
    assert len(list((out / "deno_sigma0.1" / "restored").iterdir())) == 12
    assert (out / "grids").is_dir() and (out / "report.md").exists()
    # The user's own things, in the folder and in a task folder the new run does not have.
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "a.png").write_bytes(b"x")
    (out / "sr2_sigma0.05" / "README.txt").write_text("mine too")

    assert main(restore_args(tiny_prior, tmp_path / "two", out, *ONE_TASK, "--overwrite", "true")) == 0
    new = tree(out)
    written = {f"deno_sigma0.1/{kind}/im{i}.png" for kind in ("restored", "degraded", "original", "observed", "wiener")
               for i in range(2)}
    assert new == written | {"config.yaml", "metrics.csv", "summary.csv", "notes.txt", "mine/a.png",
                             "sr2_sigma0.05/README.txt"}
    assert {(r["id"], r["task"]) for r in read_csv(out / "metrics.csv")} == {
        ("im0.png", "deno_sigma0.1"), ("im1.png", "deno_sigma0.1")}
    assert {r["task"] for r in read_csv(out / "summary.csv")} == {"deno_sigma0.1"}
    assert (out / "notes.txt").read_text() == "mine" and (out / "sr2_sigma0.05" / "README.txt").read_text() == "mine too"
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no trash, no lock


def _old_run(out: Path) -> None:
    """A previous run's folder by hand: config names task deno_sigma0.1, the tables also name 'legacy_task'."""
    config = {"model": {"tasks": [{"operator": "deno", "sigma_y": 0.1, "params": {}, "name": None}]}}
    (out / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(config))
    (out / "metrics.csv").write_text("id,task,method,status\na.png,legacy_task,ddrm,ok\nb.png,..,ddrm,ok\n")
    (out / "shards").mkdir()
    (out / "shards" / "rank0-x.csv").write_text("id,task,method,status\nc.png,from_shard,ddrm,ok\n")
    for name in ("summary.csv", "report.md", "report.html", "giqa.csv", "giqa_summary.csv"):
        (out / name).write_text("old")
    (out / "grids" / "std").mkdir(parents=True)
    (out / "grids" / "std" / "g.png").write_bytes(b"old")
    for task in ("deno_sigma0.1", "legacy_task", "from_shard"):
        for kind in ("restored", "original", "samples"):
            (out / task / kind).mkdir(parents=True)
            (out / task / kind / "a.png").write_bytes(b"old")


def test_clearing_removes_what_the_previous_run_wrote_and_nothing_else(tmp_path):
    out = tmp_path / "out"
    _old_run(out)
    (out / "legacy_task" / "keep.txt").write_text("user")
    (out / "user_folder").mkdir()
    (out / "user_folder" / "restored").mkdir()
    (out / "user_folder" / "restored" / "x.png").write_bytes(b"user")
    (tmp_path / "restored").mkdir()  # beside out: a task named '..' in the table must not reach it
    (tmp_path / "restored" / "outside.png").write_bytes(b"user")
    clear_previous_run(out)
    assert tree(out) == {"legacy_task/keep.txt", "user_folder/restored/x.png"}
    assert sorted(p.name for p in out.iterdir()) == ["legacy_task", "user_folder"]  # empty task folders went
    assert (tmp_path / "restored" / "outside.png").exists()


def test_overwrite_into_a_folder_no_sweep_wrote_removes_nothing(tmp_path):
    out = tmp_path / "my_documents"
    (out / "grids").mkdir(parents=True)
    (out / "grids" / "plan.png").write_bytes(b"user")
    (out / "report.md").write_text("my report")
    (out / "summary.csv").write_text("quarter,revenue\n")
    prepare_out_dir(out, {"model": {}}, input_dirs=[], overwrite=True, write=True).release()
    assert tree(out) == {"grids/plan.png", "report.md", "summary.csv", "config.yaml"}


def test_an_overwrite_stopped_midway_keeps_the_old_config_and_completes_when_rerun(tmp_path, monkeypatch):
    out = tmp_path / "out"
    _old_run(out)
    real_rename, calls = os.rename, []

    def failing_rename(src, dst):
        calls.append(src)
        if len(calls) == 4:
            raise OSError(5, "Input/output error", str(src))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", failing_rename)
    new_config = {"model": {"timesteps": 7}}
    with pytest.raises(OutputDirError, match="cannot remove the previous results.*Input/output error"):
        prepare_out_dir(out, new_config, input_dirs=[], overwrite=True, write=True)
    monkeypatch.setattr(os, "rename", real_rename)
    # The tables went first; the old config.yaml is still there, so only another --overwrite goes on.
    assert not (out / "metrics.csv").exists() and not (out / "shards").exists()
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["tasks"][0]["operator"] == "deno"
    assert not (out / LOCK_NAME).exists()
    with pytest.raises(OutputDirError, match="different configuration"):
        prepare_out_dir(out, new_config, input_dirs=[], overwrite=False, write=True)
    prepare_out_dir(out, new_config, input_dirs=[], overwrite=True, write=True).release()
    assert tree(out) == {"config.yaml"}  # the stopped overwrite's trash went too
    assert yaml.safe_load((out / "config.yaml").read_text()) == new_config


def test_overwrite_with_an_unchanged_config_also_starts_afresh(tmp_path):
    out = tmp_path / "out"
    _old_run(out)
    config = yaml.safe_load((out / "config.yaml").read_text())
    prepare_out_dir(out, config, input_dirs=[], overwrite=True, write=True).release()
    assert tree(out) == {"config.yaml"}


def test_the_other_ranks_neither_clear_nor_lock(tmp_path):
    out = tmp_path / "out"
    _old_run(out)
    before = tree(out)
    with OutDirLock.acquire(out):  # rank 0 of the same run holds it
        lock = prepare_out_dir(out, yaml.safe_load((out / "config.yaml").read_text()), input_dirs=[],
                               overwrite=True, write=False)
        assert not lock.held
        lock.release()
        assert (out / LOCK_NAME).exists()
    assert tree(out) == before


# ---------------------------------------------------------------------------------- lock
def _holder_process(out: Path) -> subprocess.Popen:
    """Another process holding out's lock until killed."""
    code = ("import sys, time; from pathlib import Path; from ddrm_lightning.sweep_io import OutDirLock; "
            "lock = OutDirLock.acquire(Path(sys.argv[1])); print('locked', flush=True); time.sleep(600)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_is_refused_while_the_first_holds_the_folder(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    holder = _holder_process(out)
    try:
        assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK)) == 2
        lines = errors_of(capsys)
        assert len(lines) == 1, lines
        assert f"--out_dir {out} is in use by pid {holder.pid} (started " in lines[0]
        assert lines[0].endswith("); wait for it or choose another --out_dir")
        assert tree(out) == {LOCK_NAME}  # not even config.yaml
    finally:
        holder.kill()
        holder.wait()
    # Killed: its lock is stale and the next run takes it over, and gives it back at the end.
    assert (out / LOCK_NAME).exists()
    assert main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK)) == 0
    assert len(read_csv(out / "metrics.csv")) == 2 * 3
    assert not (out / LOCK_NAME).exists()


def _write_lock(out: Path, **record) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    path.write_text(json.dumps({"host": socket.gethostname(), "started": "2024-01-01 00:00:00 +0000",
                                "token": "theirs", **record}))
    return path


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_lock_is_taken_over(tmp_path):
    path = _write_lock(tmp_path, pid=_dead_pid())
    with OutDirLock.acquire(tmp_path) as lock:
        assert lock.held
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()
    assert not list(tmp_path.iterdir())  # nothing left aside either


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/stat").exists(), reason="needs Linux /proc")
def test_a_reused_pid_or_a_reboot_does_not_keep_a_lock(tmp_path):
    """A pid alive now but started later than the lock's holder, or a lock from before a reboot, is stale."""
    _write_lock(tmp_path, pid=os.getpid(), process_start="1")
    OutDirLock.acquire(tmp_path).release()
    _write_lock(tmp_path, pid=os.getpid(), boot_id="another-boot")
    OutDirLock.acquire(tmp_path).release()
    # The same pid, start and boot: held (by this very process).
    with OutDirLock.acquire(tmp_path), pytest.raises(OutputDirInUse, match=f"in use by pid {os.getpid()}"):
        OutDirLock.acquire(tmp_path)


def test_a_lock_of_another_host_counts_as_held_and_says_how_to_free_it(tmp_path):
    path = _write_lock(tmp_path, pid=_dead_pid(), host="node17")
    with pytest.raises(OutputDirInUse) as caught:
        prepare_out_dir(tmp_path, {}, input_dirs=[], overwrite=False, write=True)
    message = str(caught.value)
    assert "on host node17 (started 2024-01-01 00:00:00 +0000)" in message
    assert f"delete {path}" in message and "\n" not in message
    assert json.loads(path.read_text())["token"] == "theirs"  # untouched


def test_a_lock_being_written_is_respected_and_an_old_unreadable_one_is_not(tmp_path):
    path = tmp_path / LOCK_NAME
    path.write_text("")
    with pytest.raises(OutputDirInUse, match="being claimed by another run"):
        OutDirLock.acquire(tmp_path)
    old = time.time() - 2 * outputs.LOCK_WRITE_GRACE_S
    os.utime(path, (old, old))
    OutDirLock.acquire(tmp_path).release()
    assert not path.exists()


def test_release_leaves_a_lock_that_is_no_longer_ours(tmp_path):
    lock = OutDirLock.acquire(tmp_path)
    path = _write_lock(tmp_path, pid=1)  # replaced behind its back
    lock.release()
    lock.release()  # twice is fine
    assert json.loads(path.read_text())["token"] == "theirs"


def test_the_lock_is_given_back_when_the_sweep_fails(tiny_prior, tmp_path, monkeypatch):
    write_images(tmp_path / "in", 2)
    out = tmp_path / "out"

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(RestorationWriter, "write_on_batch_end", broken)
    with pytest.raises(RuntimeError, match="a bug in the writer"):
        main(restore_args(tiny_prior, tmp_path / "in", out, *ONE_TASK))
    assert (out / "config.yaml").exists() and not (out / LOCK_NAME).exists()


def test_a_sweep_of_a_release_before_a_setting_resumes_at_its_default(tmp_path):
    """config.yaml of a release without --model.estimate: the same sweep resumes; estimate mean is another."""
    out = tmp_path / "out"
    before = {"model": {"prior": "embedded", "samples": 2, "tasks": [{"operator": "deno", "sigma_y": 0.1}]}}
    prepare_out_dir(out, before, input_dirs=[], overwrite=False, write=True).release()
    today = {"model": {**before["model"], "estimate": "sample"}}
    prepare_out_dir(out, today, input_dirs=[], overwrite=False, write=True).release()
    (out / "config.yaml").write_text(yaml.safe_dump(before))
    with pytest.raises(OutputDirError, match=r"\(model.estimate changed\)"):
        prepare_out_dir(out, {"model": {**before["model"], "estimate": "mean"}}, input_dirs=[], overwrite=False,
                        write=True)


def test_the_embedded_plan_spelled_out_is_the_same_sweep_and_the_previous_default_another(tmp_path):
    """Resume compares the plan as it resolves: none given on the embedded prior is 2 × 14 steps, mean."""
    out = tmp_path / "out"
    tasks = [{"operator": "deno", "sigma_y": 0.1}]
    prepare_out_dir(out, {"model": {"prior": "embedded", "tasks": tasks}}, input_dirs=[], overwrite=False,
                    write=True).release()
    spelled = {"model": {"prior": "embedded", "tasks": tasks, "steps": 14, "samples": 2, "estimate": "mean"}}
    prepare_out_dir(out, spelled, input_dirs=[], overwrite=False, write=True).release()
    # the previous release wrote its default as one sample (and, before it, no estimate at all)
    (out / "config.yaml").write_text(yaml.safe_dump({"model": {"prior": "embedded", "tasks": tasks, "samples": 1}}))
    with pytest.raises(OutputDirError, match=r"model.estimate, model.samples, model.steps changed"):
        prepare_out_dir(out, {"model": {"prior": "embedded", "tasks": tasks}}, input_dirs=[], overwrite=False,
                        write=True)
