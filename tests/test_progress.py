"""The progress bar of restore.py: DDRM steps, the tiles of a tiled step, and the time left."""

from __future__ import annotations

import io
import re

import pytest
from conftest import restore_args, write_images
from rich.console import Console
from lightning.pytorch.callbacks.progress.rich_progress import CustomProgress

from ddrm_lightning.callbacks.progress import DDRMProgressBar, step_text
from ddrm_lightning.cli import main
from ddrm_lightning.reports.console import duration_text


def test_step_text_names_the_step_and_the_tile():
    assert step_text("DDRM step", 7, 20, 34, 96) == "DDRM step 7/20 · tile 34/96"
    assert step_text("DDRM step", 7, 20) == "DDRM step 7/20"  # untiled


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _bar_on(clock: Clock) -> DDRMProgressBar:
    bar = DDRMProgressBar()
    bar.progress = CustomProgress(console=Console(file=io.StringIO()), get_time=clock, auto_refresh=False)
    bar._steps, bar._step_label = 20, "DDRM step"
    return bar


def test_tiles_advance_the_step_bar_and_give_an_estimate_of_the_time_left():
    clock = Clock()
    bar = _bar_on(clock)
    bar._on_ddrm_step(6, 20)
    task = bar.progress.tasks[bar._step_task]
    assert task.description == "DDRM step 6/20" and task.completed == 6
    for done in range(16, 97, 16):  # step 7 runs: 96 tiles, 16 per call, one call a second
        clock.now += 1.0
        bar._on_tiles(done, 96)
    assert task.description == "DDRM step 7/20 · tile 96/96" and task.completed == pytest.approx(7)
    clock.now += 1.0
    bar._on_ddrm_step(7, 20)
    clock.now += 1.0
    bar._on_tiles(16, 96)
    assert task.description == "DDRM step 8/20 · tile 16/96"
    assert task.completed == pytest.approx(7 + 16 / 96)
    # 1/6 of a step a second: 12.8 steps left take about 77 s.
    assert task.time_remaining == pytest.approx((20 - 7 - 16 / 96) * 6, rel=0.2)


def test_after_the_last_step_the_next_restoration_starts_at_step_one():
    bar = _bar_on(Clock())
    bar._on_ddrm_step(20, 20)
    bar._on_tiles(8, 96)
    assert bar.progress.tasks[bar._step_task].description == "DDRM step 1/20 · tile 8/96"


def test_a_tiled_sweep_reports_its_tiles_to_the_bar(tiny_prior, tmp_path, monkeypatch):
    from ddrm_lightning.sampling.tiles import TILE_HOOK, tile_grid

    heard = []
    monkeypatch.setattr(DDRMProgressBar, "_on_tiles", lambda self, done, tiles: heard.append((done, tiles)))
    write_images(tmp_path / "photos", 1, size=(20, 28))
    args = restore_args(tiny_prior, tmp_path / "photos", tmp_path / "out", "--data.measured", "true",
                        "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]', "--model.tile", "16",
                        "--model.tile_overlap", "4")
    assert main(args) == 0
    regular, shifted = (len(tile_grid(40, 56, 16, 4, shifted=s)) for s in (False, True))
    # Every one of the 3 steps ran all its tiles, the second on the shifted grid.
    assert [done for done, tiles in heard if done == tiles] == [regular, shifted, regular]
    assert TILE_HOOK.get() is None  # the bar let go of the hook at the end


def test_the_one_photo_form_ends_with_the_restored_file_and_the_total_time(tiny_prior, tmp_path, capsys):
    write_images(tmp_path / "photos", 1, size=(20, 28))
    out = tmp_path / "out"
    assert main([str(tmp_path / "photos" / "im0.png"), "--task", "sr2", "--sigma_y", "0.02",
                 "--model.prior", str(tiny_prior), "--model.steps", "2", "--out_dir", str(out),
                 "--trainer.accelerator", "cpu", "--model.precision", "fp32", "--report", "false"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    restored = out / "sr2_sigma0.02" / "restored" / "im0.png"
    assert restored.is_file()
    assert re.fullmatch(rf"Restored {re.escape(str(restored))} \(total time \d+\.\d s\)", last), last


def test_durations_read_as_seconds_minutes_or_hours():
    assert duration_text(41.24) == "41.2 s"
    assert duration_text(185) == "3 min 05 s"
    assert duration_text(3720) == "1 h 02 min"


def test_step_listeners_hear_every_step_until_they_stop_listening():
    from ddrm_lightning.restoration.core import STEP_LISTENERS, listen_to_steps, stop_listening

    class Listener:
        def __init__(self):
            self.heard = []

        def on_step(self, step, total):
            self.heard.append((step, total))

    listener = Listener()
    listen_to_steps(listener.on_step)  # a bound method, as the callbacks register theirs
    for hook in STEP_LISTENERS.get():
        hook(1, 20)
    stop_listening(listener.on_step)  # another bound-method object of the same method
    assert listener.heard == [(1, 20)] and STEP_LISTENERS.get() == ()
