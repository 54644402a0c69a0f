"""The methods experiment: several samplers × step budgets on one degraded set, one table, one grid per task."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import write_images
from PIL import Image

from ddrm_lightning.experiments.methods import entry_settings, main, run_method_experiment
from ddrm_lightning.experiments.sweeps import entry_config, shared_words
from ddrm_lightning.experiments.methods_config import (
    MethodEntry,
    load_method_experiment,
    parse_method_experiment,
)
from ddrm_lightning.experiments.methods_grid import write_method_grid
from ddrm_lightning.experiments.methods_table import (
    GRADIENT_METHODS,
    comparison_rows,
    write_comparison,
)
from ddrm_lightning.operators import build_operator
from ddrm_lightning.reports.images import render_label
from ddrm_lightning.reports.sweep_files import load_image, read_summary
from ddrm_lightning.sampling import linear_alphas_cumprod
from ddrm_lightning.sampling.methods import METHODS, method_defaults
from ddrm_lightning.sweep_io import MetricsRow, metrics_to_csv, write_summary

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["sr4_sigma0.05", "deno_sigma0.1"]
ENTRIES = [{"label": "ddrm", "method": "ddrm", "steps": 2},
           {"method": "ddnm_plus", "steps": 3},
           {"label": "dps", "method": "dps", "steps": 2, "params": {"zeta": 0.5}}]
LABELS = ["ddrm", "ddnm_plus_3", "dps"]


def experiment(tmp_path: Path, prior: Path, **extra) -> dict:
    write_images(tmp_path / "images", 3, size=(16, 16))
    return {
        "out_dir": str(tmp_path / "exp"),
        "restore": {"model": {"prior": str(prior),
                              "tasks": [{"operator": "sr4", "sigma_y": 0.05}, {"operator": "deno", "sigma_y": 0.1}]},
                    "data": {"source": "folder", "names": None, "root": str(tmp_path / "images"), "image_size": 16},
                    "metrics": {"fid": False, "kid": False, "giqa": False, "lpips": False}},
        "restore_args": ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--report", "false"],
        "methods": ENTRIES,
        **extra,
    }


def test_methods_restore_the_same_inputs_into_one_table_and_grids(tmp_path, tiny_prior):
    config = experiment(tmp_path, tiny_prior)
    result = run_method_experiment(parse_method_experiment(config))
    out = tmp_path / "exp"
    assert list(result.sweeps) == LABELS and result.restored == dict.fromkeys(LABELS, 3) and result.mismatches == []
    for task in TASKS:
        for i in range(3):
            degraded = {(out / label / task / "degraded" / f"im{i}.png").read_bytes() for label in LABELS}
            assert len(degraded) == 1  # one y for every method
    restored = [load_image(out / label / TASKS[0] / "restored" / "im0.png") for label in LABELS]
    assert not torch.equal(restored[0], restored[2])  # ...restored by different samplers

    with open(result.table_csv) as handle:
        rows = list(csv.DictReader(handle))
    expected = [(t, label) for t in TASKS for label in [*LABELS, "observed", "wiener"]]
    assert [(r["task"], r["label"]) for r in rows] == expected
    by_key = {(r["task"], r["label"]): r for r in rows}
    for task in TASKS:
        for entry, label in zip(ENTRIES, LABELS):
            row = by_key[(task, label)]
            assert row["method"] == entry["method"] and int(row["nfe"]) == entry["steps"]
            assert int(row["backward_passes"]) == (entry["steps"] if entry["method"] == "dps" else 0)
            summary = {r["metric"]: r for r in read_summary(out / label) if (r["task"], r["method"]) == (task, entry["method"])}
            for metric in ("psnr", "ssim", "consistency", "seconds"):
                assert float(row[metric]) == pytest.approx(summary[metric]["mean"])
            assert int(row["images"]) == 3 and int(row["errors"]) == 0
            assert json.loads(row["params"])["timesteps"] == entry["steps"]
        assert json.loads(by_key[(task, "dps")]["params"])["zeta"] == 0.5
        assert by_key[(task, "observed")]["nfe"] == "0"
    md = result.table_md.read_text()
    assert "degraded inputs identical across entries (pixel for pixel): yes" in md
    assert "|  | dps | dps | 2 (+2 backward) |" in md and "| sr4_sigma0.05 | ddrm | ddrm | 2 |" in md

    assert sorted(result.grids) == sorted(TASKS)
    for task, grid in result.grids.items():
        assert grid.path == out / "grids" / f"{task}.png"
        assert grid.columns == ["original", "degraded", *LABELS] and grid.ids == ["im0.png", "im1.png", "im2.png"]
        with Image.open(grid.path) as image:
            picture = image.convert("RGB")
        assert picture.size == grid.size and grid.missing == []
        lefts = [grid.headers[c][0] for c in grid.columns]
        assert lefts == sorted(lefts)  # one header per column, left to right
        for label in LABELS:  # each header reads its entry's label, pixel for pixel
            label_image = render_label(label)
            box = grid.headers[label]
            assert picture.crop(box).tobytes() == label_image.tobytes()
        tile = picture.crop(grid.tiles[("dps", "im1.png")])
        assert tile.tobytes() == Image.open(out / "dps" / task / "restored" / "im1.png").convert("RGB").tobytes()
    record = yaml.safe_load((out / "experiment.yaml").read_text())
    assert [m["label"] for m in record["methods"]] == LABELS and all(m["restored"] == 3 for m in record["methods"])

    # the command line resumes every finished sweep instead of redoing it
    before = (out / "dps" / "metrics.csv").read_text()
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path)]) == 0
    assert (out / "dps" / "metrics.csv").read_text() == before


def test_a_refused_setting_stops_the_experiment(tmp_path, tiny_prior, capsys):
    config = experiment(tmp_path, tiny_prior, restore_args=["--model.eta", "2", "--trainer.accelerator", "cpu"])
    with pytest.raises(ValueError, match=r"method entry 'ddrm': .*eta must be in \[0, 1\]"):
        run_method_experiment(parse_method_experiment(config))
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["--config", str(path)]) == 2


def test_each_entry_sets_its_method_steps_params_and_folder_on_the_shared_settings(tmp_path, capsys):
    base = tmp_path / "base.yaml"
    base.write_text("model: {timesteps: 3}\n")
    parsed = parse_method_experiment({
        "out_dir": str(tmp_path / "e"), "restore_config": str(base), "restore": {"data": {"batch_size": 2}},
        "restore_args": ["--data.image_size", "16"],
        "methods": [{"label": "a", "method": "diffpir", "steps": 7, "params": {"zeta": 0.25},
                     "args": ["--data.batch_size", "1"]}, "dps"]})
    shared = shared_words(parsed.out_dir, parsed.restore_configs, parsed.restore, parsed.restore_args,
                          ["--data.root", str(tmp_path)])
    config = entry_config([*shared, *parsed.entries[0].args], entry_settings(parsed, "a"), name="method entry 'a'")
    model = config["model"]
    assert (model["method"], model["steps"], model["method_params"]) == ("diffpir", 7, {"zeta": 0.25})
    assert config["out_dir"] == str(tmp_path / "e" / "a")
    # the files first, then the arguments, the entry's own last
    assert config["data"]["image_size"] == 16 and config["data"]["batch_size"] == 1
    assert config["data"]["source"]["init_args"]["root"] == str(tmp_path)
    assert "method entry 'a' sets model.steps to 7, replacing 3 of the restore settings" in capsys.readouterr().out
    dps = parsed.entries[1]  # a bare name: the published step count, labelled with it
    assert (dps.label, dps.method, dps.timesteps, dps.params) == ("dps_1000", "dps", 1000, {})
    assert entry_settings(parsed, "dps_1000")["model.steps"] == 1000
    assert entry_settings(parsed, "dps_1000")["model.method_params"] == {}  # a config's own never leaks in
    with pytest.raises(ValueError, match="unknown method label 'b'"):
        entry_settings(parsed, "b")


@pytest.mark.parametrize("change, message", [
    ({"methods": []}, "non-empty list"),
    ({"methods": [{"method": "ddpm"}]}, "unknown method 'ddpm'; allowed: ddrm, ddnm"),
    ({"methods": [{"label": "x"}]}, "unknown method 'None'"),
    ({"methods": ["ddrm", {"method": "ddrm", "steps": 20}]}, "unique"),
    ({"methods": [{"method": "ddrm", "steps": 0}]}, "positive integer"),
    ({"methods": [{"method": "ddrm", "timesteps": 2.5}]}, "positive integer"),
    ({"methods": [{"method": "ddrm", "steps": True}]}, "positive integer"),
    ({"methods": [{"method": "dps", "params": {"eta": 1}}]}, "method 'dps' has no parameter eta; allowed: timesteps, zeta"),
    ({"methods": [{"method": "dps", "params": {"timesteps": 5}}]}, "entry's steps, not in params"),
    ({"methods": [{"method": "dps", "params": {"zeta": "big"}}]}, "params.zeta of method 'dps' must be a number"),
    ({"methods": [{"method": "dps", "params": [1]}]}, "must be a mapping"),
    ({"methods": [{"method": "ddrm", "label": "a/b"}]}, "folder name"),
    ({"methods": [{"method": "ddrm", "label": "degraded"}]}, "folder name"),
    ({"methods": [{"method": "ddrm", "nfe": 3}]}, "unknown methods entry keys \\['nfe'\\]"),
    ({"methods": [3]}, "method name or a mapping"),
    ({"restore_args": "--data.root x"}, "list of strings"),
    ({"restore_config": "no/such.yaml"}, "does not exist"),
    ({"restore": ["x"]}, "mapping"),
    ({"restore": {"model": {"timesteps": 5}}}, "restore.model must not set timesteps"),
    ({"restore": {"model": {"steps": 5}}}, "restore.model must not set steps"),
    ({"restore": {"out_dir": "x"}}, "must not set out_dir"),
    ({"grid_samples": 0}, "grid_samples must be an integer >= 1"),
    ({"priors": []}, "unknown experiment keys \\['priors'\\]"),
    ({"out_dir": None}, "out_dir"),
])
def test_bad_experiment_files_are_refused(change, message):
    config = {"out_dir": "out", "methods": ["ddrm"], **change}
    with pytest.raises(ValueError, match=message):
        parse_method_experiment(config)


def test_bad_files_give_one_line_errors(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("methods: [ddrm\n")
    assert main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("methods: error: experiment file") and "not valid YAML" in err and err.count("\n") == 1
    assert main(["--config", str(tmp_path / "none.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _fake_sweep(folder: Path, method: str, task: str, psnr: dict[str, float | None], *, lpips: bool) -> None:
    """A finished sweep's files without running it: pictures of each id and the two tables."""
    rows = []
    for n, (i, value) in enumerate(psnr.items()):
        for k, kind in enumerate(("original", "degraded") + (("restored",) if value is not None else ())):
            write_images(folder / task / kind, 1, size=(8, 8), seed=10 * n + k)
            (folder / task / kind / "im0.png").rename(folder / task / kind / f"{i}.png")
        ok = value is not None
        rows.append(MetricsRow(id=f"{i}.png", task=task, method=method, scores={"psnr": value if ok else float("nan")},
                               status="ok" if ok else "error", message="" if ok else "non-finite values"))
    (folder / "metrics.csv").write_text(metrics_to_csv(rows))
    good = [v for v in psnr.values() if v is not None]
    summary = [{"task": task, "method": method, "metric": "psnr", "mean": sum(good) / len(good), "std": 0.5,
                "count": len(good), "note": "", "params": json.dumps({"timesteps": 4})},
               {"task": task, "method": method, "metric": "errors", "mean": len(psnr) - len(good), "std": 0.0,
                "count": len(psnr), "note": "", "params": ""}]
    summary.append({"task": task, "method": method, "metric": "lpips_alex", "mean": 0.25 if lpips else None,
                    "std": 0.0 if lpips else None, "count": 2 if lpips else None,
                    "note": "" if lpips else "unavailable: no weights", "params": ""})
    write_summary(folder, summary)


def test_table_shows_lpips_where_available_and_grid_marks_failures(tmp_path):
    _fake_sweep(tmp_path / "a", "ddrm", "sr4_sigma0", {"x": 20.0, "y": 22.0}, lpips=True)
    _fake_sweep(tmp_path / "b", "pigdm", "sr4_sigma0", {"x": 18.0, "y": None}, lpips=False)
    entries = [(MethodEntry("a", "ddrm", 4), tmp_path / "a"), (MethodEntry("b", "pigdm", 4), tmp_path / "b")]
    rows, notes = comparison_rows(entries)
    assert [(r.label, r.values["psnr"], r.values["lpips_alex"], r.images, r.errors) for r in rows] == [
        ("a", 21.0, 0.25, 2, 0), ("b", 18.0, None, 1, 1)]
    assert notes == {"unavailable: no weights": {"lpips_alex"}}
    _, md_path, _ = write_comparison(entries, tmp_path / "comparison")
    md = md_path.read_text()
    assert "LPIPS (alex)" in md and "LPIPS (vgg)" not in md  # a column nobody has is left out
    assert "| sr4_sigma0 | a | ddrm | 4 | **21 ± 0.50** |" in md and "4 (+4 backward)" in md and "1 (1 failed)" in md
    assert "* lpips_alex: unavailable: no weights" in md

    grid = write_method_grid("sr4_sigma0", ["x.png", "y.png"], [("a", tmp_path / "a"), ("b", tmp_path / "b")],
                             tmp_path / "grid.png")
    assert grid.columns == ["original", "degraded", "a", "b"] and grid.missing == [("b", "y.png")]
    with Image.open(grid.path) as image:
        tile = image.convert("RGB").crop(grid.tiles[("b", "y.png")])
    assert set(tile.getdata()) == {(200, 200, 200)}


def test_gradient_methods_are_the_ones_that_backpropagate():
    """The table's backward-pass count must match what each sampler really does."""
    op = build_operator("sr2", 3, 8, 8)
    y = op.H(torch.zeros(1, 3, 8, 8))
    for name, sampler in METHODS.items():
        seen = []

        def eps(x, t, seen=seen):
            seen.append(x.requires_grad)
            return torch.zeros_like(x)

        params = {**method_defaults(name, 2)}
        sampler(eps, y, op, sigma_0=0.1, alphas_cumprod=linear_alphas_cumprod(),
                generator=torch.Generator().manual_seed(0), **params)
        assert any(seen) == (name in GRADIENT_METHODS), name


def test_shipped_experiment_files_are_valid(monkeypatch):
    monkeypatch.chdir(ROOT)  # their paths are relative to the repository root, like restore.py's configs
    files = sorted((ROOT / "configs" / "methods").glob("*.yaml"))
    assert {f.stem for f in files} >= {"embedded_demo", "diffpir_comparison"}
    demo = load_method_experiment("configs/methods/embedded_demo.yaml")
    assert {e.method for e in demo.entries} == {"ddrm", "ddnm_plus", "pigdm", "diffpir", "dps"}
    assert demo.restore["model"]["prior"] == "embedded" and demo.restore["data"]["source"]["class_path"] == "Bundled"
    assert demo.restore["data"]["image_size"] == 64
    assert [(t["operator"], t["sigma_y"]) for t in demo.restore["model"]["tasks"]] == [("sr4", 0.05), ("deblur_gauss", 0.05)]
    diffpir = load_method_experiment("configs/methods/diffpir_comparison.yaml")
    nfe = {e.method: e.timesteps for e in diffpir.entries}
    assert nfe["ddrm"] == 20 and nfe["diffpir"] == 100 and nfe["dps"] == 1000 and nfe["pigdm"] == 100
    paper = yaml.safe_load(Path(diffpir.restore_configs[0]).read_text())
    assert paper["model"]["prior"] == "celeba_hq"  # the face prior stands in for DiffPIR's FFHQ model
    assert [(t["operator"], t["sigma_y"]) for t in diffpir.restore["model"]["tasks"]] == [("sr4", 0.05), ("deblur_gauss", 0.05)]
