"""restore.py's command line as a user types it: source choice, shortcuts, help, quiet start-up."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
import yaml
from conftest import write_images
from PIL import Image
from test_configs import resolve

from ddrm_lightning.cli import main
from ddrm_lightning.cli.args import DEFAULT_CONFIG, rewrite
from conftest import RESTORED

ROOT = Path(__file__).resolve().parents[1]


def test_default_config_comes_first_unless_the_user_gives_one():
    assert rewrite([]).args == [f"--config={DEFAULT_CONFIG}"]
    assert rewrite(["--config", "mine.yaml", "--model.eta", "0.5"]).args == ["--config=mine.yaml", "--model.eta=0.5"]


FOLDER, HF, HF_STREAM, BUNDLED = (f"ddrm_lightning.data.{n}" for n in ("Folder", "HuggingFace", "HuggingFaceStream",
                                                                     "Bundled"))


@pytest.mark.parametrize("args", [["--data.root", "{root}"], ["--data.source", "folder", "--data.root", "{root}"],
                                  ["--data.root={root}", "--data.source=folder"],
                                  ["--data.source", "Folder", "--data.source.root", "{root}"],
                                  ["--data.source", json.dumps({"class_path": "folder", "init_args": {"root": "{root}"}})]])
def test_a_folder_on_the_command_line_replaces_the_demo_photos(args, image_folder, capsys):
    config = resolve(main, [a.replace("{root}", str(image_folder)) for a in args], capsys)
    assert config["data"]["source"] == {"class_path": FOLDER,
                                        "init_args": {"root": str(image_folder), "recursive": True, "file_list": None}}
    assert config["model"]["prior"] == "embedded"  # the rest of the demo config stays


@pytest.mark.parametrize("args,names", [
    (["--data.names", "astronaut", "coffee"], ["astronaut", "coffee"]),  # as the README writes it
    (["--data.names", "rocket"], ["rocket"]),
    (["--data.names", "[chelsea, rocket]"], ["chelsea", "rocket"]),  # LightningCLI's own list form
    (["--data.names", "astronaut", "coffee", "--model.baselines", "observed"], ["astronaut", "coffee"]),
])
def test_bundled_names_take_several_words_or_one_list(args, names, capsys):
    config = resolve(main, args, capsys)
    assert config["data"]["source"]["class_path"] == BUNDLED
    assert config["data"]["source"]["init_args"]["names"] == names
    if "--model.baselines" in args:
        assert config["model"]["baselines"] == ["observed"]


@pytest.mark.parametrize("name,expected", [("folder", FOLDER), ("Folder", FOLDER), (FOLDER, FOLDER), ("hf", HF),
                                           ("HuggingFace", HF), ("hf_stream", HF_STREAM),
                                           ("HuggingFaceStream", HF_STREAM), ("bundled", BUNDLED)])
def test_short_names_and_class_names_pick_the_same_component(name, expected, tmp_path, capsys):
    settings = {FOLDER: ["--data.source.root", str(tmp_path)], BUNDLED: []}.get(expected, ["--data.source.path", "x/y"])
    config = resolve(main, ["--data.source", name, *settings], capsys)
    assert config["data"]["source"]["class_path"] == expected
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"data": {"source": {"class_path": name, "init_args": {}}}}))
    config = resolve(main, ["--config", str(tmp_path / "c.yaml"), *settings], capsys)
    assert config["data"]["source"]["class_path"] == expected


def test_a_config_choosing_another_source_is_overridden_by_the_command_line(tmp_path, image_folder, capsys):
    (tmp_path / "c.yaml").write_text("data:\n  source: {class_path: HuggingFace, init_args: {path: some/dataset, "
                                     "label_column: label, file_list: keep.txt}}\n")
    config = resolve(main, ["--config", str(tmp_path / "c.yaml"), "--data.root", str(image_folder)], capsys)
    # The hub settings go; file_list, a setting of both, stays.
    assert config["data"]["source"] == {"class_path": FOLDER,
                                        "init_args": {"root": str(image_folder), "recursive": True, "file_list": "keep.txt"}}


def test_flat_hub_options_keep_the_configs_streaming(tmp_path, capsys):
    stream = ROOT / "configs" / "paper" / "imagenet_256_cond.yaml"
    config = resolve(main, ["--config", str(stream), "--data.hf_path", "local/ds", "--data.hf_split", "train"], capsys)
    assert config["data"]["source"]["class_path"] == HF_STREAM
    assert config["data"]["source"]["init_args"] | {"path": "local/ds", "split": "train", "label_column": "label"} \
        == config["data"]["source"]["init_args"]
    config = resolve(main, ["--config", str(stream), "--data.streaming", "false"], capsys)
    assert config["data"]["source"]["class_path"] == HF
    assert config["data"]["source"]["init_args"]["path"] == "imagenet-1k"  # the settings carry over
    config = resolve(main, ["--data.hf_path", "local/ds", "--data.streaming", "true"], capsys)
    assert config["data"]["source"]["class_path"] == HF_STREAM


@pytest.mark.parametrize("args,message", [
    (["--data.source", "bundled", "--data.root", "{root}"],
     "data.root belongs to the folder source, but the source is bundled; bundled's settings: names"),
    (["--data.root", "{root}", "--data.hf_split", "train"],
     "data.hf_split belongs to the hf source, but the source is folder; folder's settings: root, recursive, file_list"),
    (["--data.source", "folder", "--data.source.root", "{root}", "--data.source.split", "train"],
     "split is not a setting of the folder source (Folder); its settings: root, recursive, file_list"),
    (["--data.source", "nowhere"], "unknown data source 'nowhere'; allowed: folder (Folder), hf (HuggingFace)"),
])
def test_settings_of_another_source_fail_in_one_line(args, message, image_folder, tmp_path, capsys):
    code = main([a.replace("{root}", str(image_folder)) for a in args] + ["--out_dir", str(tmp_path / "o")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_flat_config_still_works_with_one_deprecation_line(tmp_path, image_folder, capsys):
    (tmp_path / "old.yaml").write_text(f"data:\n  source: folder\n  root: {image_folder}\n  recursive: false\n"
                                       "  names: null\n  image_size: 16\n")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--config", str(tmp_path / "old.yaml"), "--print_config"])
    out, err = capsys.readouterr()
    config = yaml.safe_load(out)
    assert config["data"]["source"] == {"class_path": FOLDER,
                                        "init_args": {"root": str(image_folder), "recursive": False, "file_list": None}}
    assert config["data"]["image_size"] == 16
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "old.yaml" in lines[0] and "data.root, data.recursive" in lines[0] and "deprecated" in lines[0]
    assert "class_path: Folder, init_args: {root: …, recursive: …}" in lines[0]


def test_a_flat_config_setting_of_another_source_fails_in_one_line(tmp_path, capsys):
    (tmp_path / "old.yaml").write_text("data:\n  source: bundled\n  hf_split: train\n")
    assert main(["--config", str(tmp_path / "old.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.hf_split belongs to the hf source, but the source is bundled" in err[0], err


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
    code = main(["im0.png", "--task", "sr2", "--model.steps", "2", "--device", "cpu", "--report", "false"])
    assert code == 0
    out = tmp_path / "outputs" / "im0_sr2"
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {r["method"] for r in rows} >= {"ddrm"} and all(r["status"] in RESTORED for r in rows)
    # σ_y not given: estimated from the photo (sigma_y auto, the one-photo form's default)
    assert Image.open(out / "sr2_sigmaauto" / "restored" / "im0.png").size == (32, 24)  # 2× the photo


def test_help_lists_only_what_restoration_uses(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for unused in ("--optimizer", "--lr_scheduler", "max_epochs", "gradient_clip_val", "val_check_interval"):
        assert unused not in text
    for used in ("--trainer.devices", "--model.precision", "--model.tasks", "--data.root", "--device", "--task"):
        assert used in text
    # Lightning's whole Trainer would add over 100 lines (the demo's tasks and source as defaults add a dozen)
    assert len(text.splitlines()) < 375


def _help(args: list[str], capsys) -> str:
    with pytest.raises(SystemExit):
        main([*args, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_the_defaults_that_apply_and_describes_every_model_setting(tmp_path, capsys):
    text = _help([], capsys)
    assert text.startswith("usage: ") and "Lightning Trainer command line tool" not in text
    assert "Restore images with DDRM and a pretrained diffusion prior" in text
    assert "model image size, an int (square) or [H, W]. (type: int | tuple[int, int], default: 128)" in text
    assert "--model.channels_last {true,false} run the network channels-last" in text
    assert "(type: bool, default: True)" in text.split("--model.channels_last {true,false}", 2)[2]
    for setting in ("prior", "steps", "precision", "eta", "eta_b", "classifier_scale", "compile", "tile", "tile_overlap", "tile_batch"):
        described = text.split(f"--model.{setting} ", 2)[2]
        assert not described.split()[1].startswith("(type:"), setting  # a description before the type
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump({"data": {"root": str(tmp_path)}}))
    assert "default: 256)" in _help(["--config", str(config)], capsys)  # a config of one's own: the class's


def test_lightning_start_up_lines_are_quiet_unless_verbose(capsys):
    resolve(main, [], capsys)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.WARNING
    resolve(main, ["--verbose"], capsys)
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.INFO
    resolve(main, [], capsys)
