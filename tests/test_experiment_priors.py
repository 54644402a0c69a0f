"""The less-informed prior experiment: several priors on one degraded set, one comparison table."""

import csv
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TINY_DDPM, write_images
from test_reports_giqa import ColourAndTexture

from ddrm_lightning.experiments import degraded_mismatches, load_experiment, parse_experiment
from ddrm_lightning.experiments.priors import main, prior_settings, run_prior_experiment
from ddrm_lightning.experiments.sweeps import entry_config, shared_words
from ddrm_lightning.reports.sweep_files import load_image, read_summary

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["deno_sigma0.1", "sr4_sigma0.05"]


def tiny_prior(path: Path, seed: int) -> Path:
    """A tiny DDPM whose weights are drawn from ``seed``.

    A freshly built DDPM UNet predicts ε = 0 (its output convolutions start at zero), so every
    weight gets seeded noise: two seeds then give two priors that really restore differently.
    """
    from ddrm_lightning.models import build_network, linear_betas, save_network

    network = build_network("ddpm", TINY_DDPM)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    save_network(path, network, "ddpm", TINY_DDPM, linear_betas())
    return path


def experiment(tmp_path: Path, priors: list, **extra) -> dict:
    write_images(tmp_path / "images", 3, size=(16, 16))
    return {
        "out_dir": str(tmp_path / "exp"),
        "restore": {"model": {"tasks": [{"operator": "deno", "sigma_y": 0.1}, {"operator": "sr4", "sigma_y": 0.05}],
                              "steps": 3},
                    "data": {"source": "folder", "names": None, "root": str(tmp_path / "images"), "image_size": 16}},
        "restore_args": ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--report", "true"],
        "priors": priors,
        **extra,
    }


@pytest.mark.slow
def test_two_priors_restore_the_same_inputs_into_one_table(tmp_path):
    first, second = tiny_prior(tmp_path / "p0.pt", 0), tiny_prior(tmp_path / "p1.pt", 1)
    config = experiment(tmp_path, [{"label": "seed0", "prior": str(first)}, {"label": "seed1", "checkpoint": str(second)}])
    result = run_prior_experiment(parse_experiment(config), extractor=ColourAndTexture())
    out = tmp_path / "exp"
    assert result.sweeps == {"seed0": out / "seed0", "seed1": out / "seed1"}
    assert result.restored == {"seed0": 3, "seed1": 3} and result.mismatches == [] and result.giqa_notes == {}
    for task in TASKS:
        for i in range(3):
            degraded = [(out / label / task / "degraded" / f"im{i}.png").read_bytes() for label in ("seed0", "seed1")]
            assert degraded[0] == degraded[1]  # same y for both priors
            restored = [load_image(out / label / task / "restored" / f"im{i}.png") for label in ("seed0", "seed1")]
            assert not torch.equal(*restored)  # ...restored by two different priors
    with open(result.table_csv) as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["prior"], r["task"]) for r in rows] == [(p, t) for p in ("seed0", "seed1") for t in TASKS]
    for row in rows:
        summary = read_summary(out / row["prior"])
        psnr = next(r["mean"] for r in summary if (r["task"], r["method"], r["metric"]) == (row["task"], "ddrm", "psnr"))
        assert float(row["psnr"]) == pytest.approx(psnr)
        assert float(row["giqa_knn_rel"]) > 0 and row["giqa_source"].startswith("post hoc")
    md = result.table_md.read_text()
    assert "degraded inputs identical across priors: yes" in md and "| seed1 | sr4_sigma0.05 |" in md
    assert "## GIQA after the sweep" in (out / "seed0" / "report.md").read_text()  # rewritten after scoring
    record = yaml.safe_load((out / "experiment.yaml").read_text())
    assert [p["checkpoint"] for p in record["priors"]] == [str(first), str(second)]
    # a second run resumes both finished sweeps instead of redoing them
    before = (out / "seed0" / "metrics.csv").read_text()
    run_prior_experiment(parse_experiment(config), extractor=ColourAndTexture())
    assert (out / "seed0" / "metrics.csv").read_text() == before


def test_a_refused_setting_stops_the_experiment(tmp_path, tiny_prior, capsys):
    config = experiment(tmp_path, [str(tiny_prior)], restore_args=["--model.steps", "0", "--trainer.accelerator", "cpu"])
    with pytest.raises(ValueError, match="prior 'tiny': .*steps must be >= 1"):
        run_prior_experiment(parse_experiment(config))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path)]) == 2


def test_each_prior_sets_its_checkpoint_and_folder_on_the_shared_settings(tmp_path, capsys):
    base = tmp_path / "base.yaml"
    base.write_text("model: {steps: 3, prior: celeba_hq}\n")
    parsed = parse_experiment({"out_dir": str(tmp_path / "e"), "restore_config": str(base), "restore": {"data": {}},
                               "restore_args": ["--data.image_size", "16"],
                               "priors": [{"label": "a", "prior": "lsun_church", "args": ["--model.eta", "0.5"]}]})
    shared = shared_words(parsed.out_dir, parsed.restore_configs, parsed.restore, parsed.restore_args,
                          ["--data.root", str(tmp_path)])
    config = entry_config([*shared, *parsed.priors[0].args], prior_settings(parsed, "a"), name="prior 'a'")
    assert config["model"]["prior"] == "lsun_church" and config["out_dir"] == str(tmp_path / "e" / "a")
    assert config["model"]["eta"] == 0.5 and config["model"]["steps"] == 3 and config["data"]["image_size"] == 16
    assert "prior 'a' sets model.prior to 'lsun_church', replacing 'celeba_hq'" in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown prior label 'b'"):
        prior_settings(parsed, "b")


@pytest.mark.parametrize("change, message", [
    ({"priors": []}, "non-empty list"),
    ({"priors": ["embedded", "embedded"]}, "unique"),
    ({"priors": [{"label": "a/b", "checkpoint": "embedded"}]}, "folder name"),
    ({"priors": [{"label": "comparison", "checkpoint": "embedded"}]}, "folder name"),
    ({"priors": [{"label": "a"}]}, "needs a prior"),
    ({"priors": [{"checkpoint": "embedded", "seed": 1}]}, "unknown prior keys"),
    ({"restore_args": "--data.root x"}, "list of strings"),
    ({"restore_config": "no/such.yaml"}, "does not exist"),
    ({"restore": ["x"]}, "mapping"),
    ({"giqa": {"referense": "x"}}, "unknown giqa keys"),
    ({"giqa": {"enabled": "no"}}, "giqa.enabled must be true or false"),
    ({"giqa": {"k": 0}}, "giqa.k must be an integer >= 1"),
    ({"tasks": []}, "unknown experiment keys"),
    ({"out_dir": None}, "out_dir"),
])
def test_bad_experiment_files_are_refused(change, message):
    config = {"out_dir": "out", "priors": ["embedded"], **change}
    with pytest.raises(ValueError, match=message):
        parse_experiment(config)


def test_degraded_mismatches_are_found(tmp_path):
    from PIL import Image

    for label in ("a", "b"):
        write_images(tmp_path / label / "sr4_sigma0" / "degraded", 2, size=(4, 4))
    assert degraded_mismatches({"a": tmp_path / "a", "b": tmp_path / "b"}) == []
    Image.new("RGB", (4, 4)).save(tmp_path / "b" / "sr4_sigma0" / "degraded" / "im1.png")
    (tmp_path / "a" / "sr4_sigma0" / "degraded" / "im0.png").unlink()
    assert degraded_mismatches({"a": tmp_path / "a", "b": tmp_path / "b"}) == [
        "sr4_sigma0/im0.png: missing in a", "sr4_sigma0/im1.png: differs between a and b"]


def test_shipped_experiment_files_are_valid(monkeypatch):
    monkeypatch.chdir(ROOT)  # their paths are relative to the repository root, like restore.py's configs
    files = sorted((ROOT / "configs" / "priors").glob("*.yaml"))
    assert {f.stem for f in files} >= {"ood_celeba", "church", "faces_demo"}
    for path in files:
        parsed = load_experiment(path.relative_to(ROOT))
        assert len(parsed.priors) >= 2, path
    checkpoints = {p.label: p.checkpoint for p in load_experiment("configs/priors/ood_celeba.yaml").priors}
    assert checkpoints == {"celeba_hq": "celeba_hq", "lsun_bedroom": "lsun_bedroom", "imagenet_256": "imagenet_256_uncond"}
    # the demo restores with the prior that configs/train/faces.yaml exports
    faces = yaml.safe_load((ROOT / "configs" / "train" / "faces.yaml").read_text())
    demo = load_experiment("configs/priors/faces_demo.yaml")
    assert {p.checkpoint for p in demo.priors} == {"embedded", faces["export"]}
    assert faces["model"]["init_from"] == "embedded" and faces["data"]["names"] == ["lfw_subset"]


def test_the_faces_training_config_fine_tunes_a_prior(tmp_path, tiny_prior):
    from ddrm_lightning.models import load_model
    from ddrm_lightning.cli.train import main as train

    export = tmp_path / "faces.pt"
    code = train(["--config", str(ROOT / "configs" / "train" / "faces.yaml"), "--model.init_from", str(tiny_prior),
                  "--trainer.max_steps", "2", "--trainer.accelerator", "cpu", "--data.crop_size", "16",
                  "--data.batch_size", "2", "--data.crops_per_epoch", "4", "--data.num_workers", "0",
                  "--out_dir", str(tmp_path / "train"), "--export", str(export)])
    assert code == 0
    tuned, start = load_model(str(export)), load_model(str(tiny_prior))
    assert tuned.config == start.config
    changed = [not torch.equal(a.float(), b.float()) for a, b in zip(tuned.network.state_dict().values(),
                                                                    start.network.state_dict().values())]
    assert any(changed)  # two steps of fine-tuning moved the (EMA) weights
