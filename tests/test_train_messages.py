"""What train.py says about itself: the bar's label, and the loss curve only when one was drawn."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from conftest import tiny_training_config

from ddrm_lightning.callbacks.training import LossPlot, TrainProgressBar


def _bar(**trainer) -> TrainProgressBar:
    bar = TrainProgressBar()
    bar._trainer = SimpleNamespace(validation_description="", **trainer)
    return bar


def test_step_bounded_training_is_labelled_by_steps_not_epoch_minus_two():
    bar = _bar(max_epochs=-1, max_steps=6000, global_step=120)
    assert bar._get_train_description(1) == "Epoch 1 · steps"
    assert bar.total_train_batches == 6000  # the bar counts optimizer steps


@pytest.mark.slow
def test_a_resumed_run_counts_steps_out_of_max_steps_and_says_little(tmp_path, monkeypatch, capsys):
    """Stopped mid-epoch at step 3 and resumed to 6 (4 batches an epoch): the bar reads k/6 throughout
    (Lightning's batch counter read "30/10" here), and Lightning's tips and FLOPs table are not shown."""
    from ddrm_lightning.cli.train import main

    config = tiny_training_config(tmp_path)
    shown = []
    real_update = TrainProgressBar._update

    def update(self, bar_id, current, *args, **kwargs):
        if bar_id is not None and bar_id == self.train_progress_bar_id:
            shown.append((current, self.progress.tasks[bar_id].total))
        real_update(self, bar_id, current, *args, **kwargs)

    monkeypatch.setattr(TrainProgressBar, "_update", update)
    common = ["--config", str(config), "--trainer.enable_model_summary", "true", "--trainer.max_steps"]
    assert main([*common, "3"]) == 0
    shown.clear()
    assert main([*common, "6"]) == 0
    assert shown and all(current <= total == 6 for current, total in shown) and shown[-1] == (6, 6)
    assert min(current for current, _ in shown) == 3
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Tip" not in text and "FLOPs" not in text and "tensorboard" not in text.lower()
    assert "parameters: network " in text
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.WARNING  # no tips, no "Seed set"


def test_epoch_bounded_training_keeps_lightnings_label():
    bar = _bar(max_epochs=3, max_steps=-1, global_step=0)
    assert bar._get_train_description(1).startswith("Epoch 1/2")


@pytest.mark.parametrize("rows,drawn", [("step,train/loss\n", False), ("step,train/loss\n0,0.5\n1,0.4\n", True)])
def test_loss_plot_is_drawn_only_when_a_loss_was_logged(tmp_path, rows, drawn):
    (tmp_path / "metrics.csv").write_text(rows)
    plot = LossPlot(str(tmp_path / "loss.png"))
    logger = SimpleNamespace(save=lambda: None, log_dir=str(tmp_path))
    plot.on_train_end(SimpleNamespace(is_global_zero=True, logger=logger), None)
    assert plot.written is drawn and (tmp_path / "loss.png").exists() is drawn


def test_a_resumed_run_plots_the_loss_of_every_version(tmp_path):
    from ddrm_lightning.callbacks.training import read_loss, run_tables

    (tmp_path / "version_0").mkdir()
    (tmp_path / "version_0" / "metrics.csv").write_text("step,train/loss\n0,0.5\n1,0.4\n2,0.35\n")
    (tmp_path / "version_1").mkdir()  # resumed from step 1's checkpoint: step 2 is logged again
    (tmp_path / "version_1" / "metrics.csv").write_text("step,train/loss\n2,0.3\n3,0.2\n")
    (tmp_path / "version_10").mkdir()  # ordered by number, not by name
    (tmp_path / "version_10" / "metrics.csv").write_text("step,train/loss\n4,0.1\n")
    tables = run_tables(tmp_path / "version_10")
    assert [t.parent.name for t in tables] == ["version_0", "version_1", "version_10"]
    assert read_loss(tables) == [(0, 0.5), (1, 0.4), (2, 0.3), (3, 0.2), (4, 0.1)]
    plot = LossPlot(str(tmp_path / "loss.png"))
    logger = SimpleNamespace(save=lambda: None, log_dir=str(tmp_path / "version_10"))
    plot.on_train_end(SimpleNamespace(is_global_zero=True, logger=logger), None)
    assert plot.written and (tmp_path / "loss.png").exists()
