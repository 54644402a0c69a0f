"""restore.py's command line as a user types it: source choice, shortcuts, help, quiet start-up."""

from __future__ import annotations

import csv
import json
import logging

import pytest
from conftest import write_images
from PIL import Image
from test_configs import resolve

from ddrm_lightning.cli import main
from ddrm_lightning.cli_args import DEFAULT_CONFIG, rewrite


def test_default_config_comes_first_unless_the_user_gives_one():
    assert rewrite([]).args == [f"--config={DEFAULT_CONFIG}"]
    assert rewrite(["--config", "mine.yaml", "--model.eta", "0.5"]).args == ["--config=mine.yaml", "--model.eta=0.5"]


@pytest.mark.parametrize("args", [["--data.root", "{root}"], ["--data.source", "folder", "--data.root", "{root}"],
                                  ["--data.root={root}", "--data.source=folder"]])
def test_a_folder_on_the_command_line_replaces_the_demo_photos(args, image_folder, capsys):
    config = resolve(main, [a.format(root=image_folder) for a in args], capsys)
    assert config["data"]["source"] == "folder" and config["data"]["root"] == str(image_folder)
    assert config["data"]["names"] is None
    assert config["model"]["checkpoint"] == "embedded"  # the rest of the demo config stays


def test_a_config_choosing_another_source_is_overridden_by_the_command_line(tmp_path, image_folder, capsys):
    (tmp_path / "c.yaml").write_text("data:\n  source: hf\n  hf_path: some/dataset\n  label_column: label\n")
    config = resolve(main, ["--config", str(tmp_path / "c.yaml"), "--data.root", str(image_folder)], capsys)
    assert config["data"]["source"] == "folder"
    assert config["data"]["hf_path"] is None and config["data"]["label_column"] is None


def test_explicit_conflicts_of_the_user_still_fail_in_one_line(image_folder, tmp_path, capsys):
    code = main(["--data.source", "bundled", "--data.root", str(image_folder), "--out_dir", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "root only applies to source='folder'" in err[0]


def test_device_and_task_shortcuts(capsys):
    config = resolve(main, ["--device", "cpu", "--task", "sr2", "--sigma_y", "0.1"], capsys)
    assert config["trainer"]["accelerator"] == "cpu"
    assert [(t["operator"], t["sigma_y"]) for t in config["model"]["tasks"]] == [("sr2", 0.1)]
    assert json.loads(rewrite(["--task", "deno"]).args[-1].split("=", 1)[1]) == [{"operator": "deno", "sigma_y": 0.05}]


@pytest.mark.parametrize("args,message", [
    (["--device", "tpu"], "--device must be one of cpu, cuda, gpu, auto"),
    (["--sigma_y", "0.1"], "--sigma_y goes with --task"),
    (["--task", "sr4", "--sigma_y", "lots"], "--sigma_y must be a number"),
    (["a.png", "b.png", "--task", "sr4"], "give one image or folder"),
    (["/nonexistent/photo.png", "--task", "sr4"], "does not exist"),
    (["--model.eta", "0.5", "stray"], "unexpected argument 'stray'"),
])
def test_bad_shortcuts_are_one_line_errors(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_photo_without_a_task_says_what_to_add(image_folder, capsys):
    assert main([str(image_folder / "im0.png")]) == 2
    assert "add --task" in capsys.readouterr().err


def test_one_photo_short_form_restores_it_as_a_measurement(tmp_path, capsys, monkeypatch):
    write_images(tmp_path, 1, size=(12, 16))
    monkeypatch.chdir(tmp_path)
    code = main(["im0.png", "--task", "sr2", "--model.timesteps", "2", "--device", "cpu", "--report", "false"])
    assert code == 0
    out = tmp_path / "outputs" / "im0_sr2"
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {r["method"] for r in rows} >= {"ddrm"} and all(r["status"] == "ok" for r in rows)
    assert Image.open(out / "sr2_sigma0.05" / "restored" / "im0.png").size == (32, 24)  # 2× the photo


def test_help_lists_only_what_restoration_uses(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for unused in ("--optimizer", "--lr_scheduler", "max_epochs", "gradient_clip_val", "val_check_interval"):
        assert unused not in text
    for used in ("--trainer.devices", "--trainer.precision", "--model.tasks", "--data.root", "--device", "--task"):
        assert used in text
    assert len(text.splitlines()) < 320


def test_lightning_start_up_lines_are_quiet_unless_verbose(capsys):
    resolve(main, [], capsys)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.WARNING
    resolve(main, ["--verbose"], capsys)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.INFO
    resolve(main, [], capsys)
