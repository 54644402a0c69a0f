"""What train.py says about itself: the bar's label, and the loss curve only when one was drawn."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ddrm_lightning.callbacks.training import LossPlot, TrainProgressBar


def _bar(**trainer) -> TrainProgressBar:
    bar = TrainProgressBar()
    bar._trainer = SimpleNamespace(validation_description="", **trainer)
    return bar


def test_step_bounded_training_is_labelled_by_steps_not_epoch_minus_two():
    bar = _bar(max_epochs=-1, max_steps=6000, global_step=120)
    assert bar._get_train_description(1) == "Epoch 1 · step 120/6000"


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
