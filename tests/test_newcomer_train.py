"""train.py with nothing to train (issue 28, item 6): one line naming the smallest working command."""

from __future__ import annotations

from ddrm_lightning.cli.train import main


def test_train_without_a_network_or_a_start_says_so_in_one_line(tmp_path, capsys):
    assert main(["--trainer.max_steps", "30", "--out_dir", str(tmp_path / "train")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["train.py: error: give a network config (--model.network) or a checkpoint to start from "
                     "(--model.init_from); the smallest working command: python train.py --model.init_from embedded "
                     "(fine-tunes the embedded prior on the bundled photos)"]
    assert not (tmp_path / "train").exists()


def test_the_readme_shows_the_smallest_working_train_command():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "python train.py --model.init_from embedded" in readme
