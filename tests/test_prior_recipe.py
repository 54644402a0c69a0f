"""The embedded prior's recipe keeps its held-out photos out of training."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import load_benchmark

from ddrm_lightning.data.bundled import DEMO_PHOTOS, TRAINING_PHOTOS

ROOT = Path(__file__).resolve().parents[1]
# the shipped prior's two stages and the prior v5 candidates (issue #32)
RECIPES = ("embedded_v2.yaml", "embedded.yaml", *sorted(f"v5/{p.name}" for p in (ROOT / "configs" / "train" / "v5").glob("*.yaml")))


def _validation_module():
    return load_benchmark("prior_validation")


def _training_photos(recipe: str) -> set[str]:
    data = yaml.safe_load((ROOT / "configs" / "train" / recipe).read_text())["data"]
    names = set(data.get("names") or TRAINING_PHOTOS)
    return names | {Path(f).stem for f in data.get("files") or ()}


def _stem(name: str) -> str:
    return Path(name.split(":", 1)[1] if ":" in name else name).stem


def test_every_v5_candidate_is_checked():
    assert len([r for r in RECIPES if r.startswith("v5/")]) >= 5


def test_neither_the_demo_nor_the_validation_photos_are_trained_on():
    validation = {_stem(n) for n in _validation_module().VALIDATION}
    demo = set(DEMO_PHOTOS)
    for recipe in RECIPES:
        trained = {_stem(n) for n in _training_photos(recipe)}
        assert not trained & demo, f"{recipe} trains on demo photos {trained & demo}"
        assert not trained & validation, f"{recipe} trains on validation photos {trained & validation}"
    assert not validation & demo


def test_the_validation_benchmark_runs_the_demo_photos_of_the_package():
    assert tuple(_validation_module().DEMO) == tuple(DEMO_PHOTOS)


def test_the_validation_table_names_the_best_baseline_and_the_margin():
    rows = [{"task": "sr4", "method": m, "psnr": p, "ssim": s}
            for m, p, s in (("ddrm", "23.0", "0.70"), ("observed", "22.5", "0.60"), ("wiener", "20.0", "0.50"))]
    line = _validation_module().table({"embedded": rows})[2]
    assert line == "| embedded | sr4 | 23.00 | 0.700 | observed | 22.50 / 0.600 | +0.50 |"


def test_every_checkpoint_is_validated_at_the_embedded_priors_plan_unless_one_is_given(tmp_path, monkeypatch):
    """A candidate's file would otherwise run the paper's one 20-step sample while ``embedded`` runs its own plan."""
    import subprocess

    from ddrm_lightning.models.embedded import EMBEDDED_DDRM_STEPS, EMBEDDED_PLAN

    module, commands = _validation_module(), []

    def fake_run(command, **kwargs):
        commands.append(command)
        out = Path(command[command.index("--out_dir") + 1])
        out.mkdir(parents=True)
        (out / "metrics.csv").write_text("status,task,method,psnr,ssim\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    def value(command, name):
        assert command.count(f"--model.{name}") == 1, command
        return command[command.index(f"--model.{name}") + 1]

    monkeypatch.setattr(module.subprocess, "run", fake_run)
    module.sweep("candidate.pt", [], 0, [], tmp_path / "a")
    module.sweep("candidate.pt", [], 0, ["--model.steps", "40"], tmp_path / "b")
    module.sweep("candidate.pt", [], 0, ["--model.samples", "1"], tmp_path / "c")
    plan, steps_given, one_sample = commands
    assert {name: value(plan, name) for name in EMBEDDED_PLAN} == {k: str(v) for k, v in EMBEDDED_PLAN.items()}
    assert value(steps_given, "steps") == "40" and "--model.samples" not in steps_given
    assert value(one_sample, "steps") == str(EMBEDDED_DDRM_STEPS) and value(one_sample, "samples") == "1"
