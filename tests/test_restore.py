"""restore.py end to end on a tiny prior: folder, HF dataset, measurement mode, resume, DDP, --print_config."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import restore_args, write_images
from PIL import Image

from ddrm_lightning.cli import main
from conftest import RESTORED

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["deno_sigma0.1", "sr4_sigma0.05", "deblur_gauss_sigma0.05"]  # the default config's tasks


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def numbers(rows: list[dict]) -> dict:
    """(id, task, method) -> metric values, without timings."""
    keep = ("psnr", "ssim", "consistency", "seed")
    return {(r["id"], r["task"], r["method"]): tuple(r[k] for k in keep) for r in rows}


def assert_same_numbers(a: list[dict], b: list[dict], tol: float) -> None:
    """Same rows, same metric values up to float noise of different batch compositions.

    Callers use 1e-5 on PSNR/SSIM/consistency: batches of other sizes (or other ranks) run the
    network's convolutions with other kernel choices and summation orders, which moves float32
    results by ~1e-6; a real dependence on the batch (shared noise, shared norm) moves them by ≫ 1e-3.
    """
    a, b = numbers(a), numbers(b)
    assert a.keys() == b.keys()
    for key in a:
        for x, y in zip(a[key], b[key]):
            assert float(x) == pytest.approx(float(y), abs=tol), key


def test_folder_sweep_writes_pictures_and_tables(tiny_prior, image_folder, tmp_path):
    out = tmp_path / "out"
    assert main(restore_args(tiny_prior, image_folder, out, "--report", "true")) == 0
    rows = read_csv(out / "metrics.csv")
    ids = sorted(p.name for p in image_folder.iterdir())
    assert {(r["id"], r["task"], r["method"]) for r in rows} == {
        (i, t, m) for i in ids for t in TASKS for m in ("ddrm", "observed", "wiener")
    }
    assert all(r["status"] in RESTORED and float(r["psnr"]) > 0 for r in rows)
    for task in TASKS:
        for kind in ("restored", "degraded", "original", "observed", "wiener"):
            assert sorted(p.name for p in (out / task / kind).iterdir()) == ids
    assert Image.open(out / "sr4_sigma0.05" / "degraded" / "im0.png").size == (4, 4)  # y itself, 16/4
    summary = read_csv(out / "summary.csv")
    assert {(r["task"], r["method"]) for r in summary if r["metric"] == "psnr"} == {
        (t, m) for t in TASKS for m in ("ddrm", "observed", "wiener")
    }
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["model"]["steps"] == 3 and config["data"]["image_size"] == 16
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert not (out / "shards").exists()


def test_results_do_not_depend_on_batch_size(tiny_prior, image_folder, tmp_path):
    main(restore_args(tiny_prior, image_folder, tmp_path / "a", "--data.batch_size", "4"))
    main(restore_args(tiny_prior, image_folder, tmp_path / "b", "--data.batch_size", "1"))
    assert_same_numbers(read_csv(tmp_path / "a" / "metrics.csv"), read_csv(tmp_path / "b" / "metrics.csv"), 1e-5)


@pytest.fixture(scope="module")
def five(tmp_path_factory, tiny_prior) -> tuple[Path, Path]:
    """Five images (as ``image_folder``) and their sweep with restore_args' settings, in this process:
    the reference of the resumed and the distributed runs."""
    base = tmp_path_factory.mktemp("five")
    write_images(base / "images", 5)
    assert main(restore_args(tiny_prior, base / "images", base / "one")) == 0
    return base / "images", base / "one"


def test_resume_skips_finished_ids_and_matches_a_full_run(tiny_prior, five, tmp_path):
    image_folder, full = five
    resumed = tmp_path / "resumed"
    main(restore_args(tiny_prior, image_folder, resumed, "--data.limit", "2"))
    assert len({r["id"] for r in read_csv(resumed / "metrics.csv")}) == 2
    first = (resumed / "deno_sigma0.1" / "restored" / "im0.png").stat().st_mtime_ns
    main(restore_args(tiny_prior, image_folder, resumed))
    rows = read_csv(resumed / "metrics.csv")
    assert len(rows) == len({(r["id"], r["task"], r["method"]) for r in rows}) == 5 * 3 * 3
    assert (resumed / "deno_sigma0.1" / "restored" / "im0.png").stat().st_mtime_ns == first  # not redone
    assert_same_numbers(rows, read_csv(full / "metrics.csv"), 1e-5)


def test_hf_dataset_sweep(tiny_prior, tmp_path):
    datasets = pytest.importorskip("datasets")
    images = [Image.open(p).convert("RGB") for p in write_images(tmp_path / "png", 3)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    datasets.Dataset.from_dict({"image": images, "label": [1, 2, 3]}, features=features).save_to_disk(tmp_path / "ds")
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path, out)
    args[args.index("--data.root") : args.index("--data.root") + 2] = ["--data.hf_path", str(tmp_path / "ds")]
    assert main(args + ["--data.hf_split", "train"]) == 0
    rows = read_csv(out / "metrics.csv")
    assert sorted({r["id"] for r in rows}) == ["0", "1", "2"]
    assert (out / "deno_sigma0.1" / "restored" / "0.png").exists()


def test_measurement_mode_restores_given_low_resolution_photos(tiny_prior, tmp_path):
    write_images(tmp_path / "lowres", 2, size=(8, 8))
    out = tmp_path / "out"
    args = restore_args(tiny_prior, tmp_path / "lowres", out, "--data.measured", "true",
                        "--model.tasks", '[{"operator": "sr2", "sigma_y": 0.02}]', "--model.baselines", "[observed]")
    assert main(args) == 0
    rows = read_csv(out / "metrics.csv")
    assert {r["method"] for r in rows} == {"ddrm", "observed"}
    assert all(not r.get("psnr") and float(r["consistency"]) >= 0 for r in rows)  # no ground truth
    assert Image.open(out / "sr2_sigma0.02" / "restored" / "im0.png").size == (16, 16)
    assert not (out / "sr2_sigma0.02" / "original").exists()


def test_print_config_shows_the_default_sweep(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--print_config"])
    assert exit_info.value.code == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["prior"] == "embedded"
    assert [t["operator"] for t in config["model"]["tasks"]] == ["deno", "sr4", "deblur_gauss"]
    assert config["data"]["source"] == {"class_path": "ddrm_lightning.data.Bundled",
                                        "init_args": {"names": ["astronaut", "coffee", "chelsea", "rocket"]}}


def test_bad_setting_is_one_line_error(tiny_prior, image_folder, tmp_path, capsys):
    code = main(restore_args(tiny_prior, image_folder, tmp_path / "o", "--model.tasks", '[{"operator": "blurry"}]'))
    assert code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("restore.py: error")]
    assert len(err) == 1 and "blurry" in err[0] and "deno" in err[0]
    assert not (tmp_path / "o" / "metrics.csv").exists()


def ddp_args(tiny_prior: Path, image_folder: Path, out: Path, devices: int, *extra: str) -> list[str]:
    """restore.py's arguments for a run on ``devices`` processes of this machine (DDP from 2 on)."""
    args = restore_args(tiny_prior, image_folder, out, *extra)
    args[args.index("--trainer.devices") + 1] = str(devices)
    return args + (["--trainer.strategy", "ddp"] if devices > 1 else [])


@pytest.mark.slow
def test_two_process_ddp_equals_one_process(tiny_prior, five, tmp_path):
    """Lightning's DDP relaunches the script, so this runs restore.py in a subprocess."""
    image_folder, one = five
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "ddp2"
    proc = subprocess.run([sys.executable, str(ROOT / "restore.py"), *ddp_args(tiny_prior, image_folder, out, 2)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = read_csv(out / "metrics.csv")
    assert len(rows) == 5 * 3 * 3
    assert_same_numbers(read_csv(one / "metrics.csv"), rows, 1e-5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_equal_one_process(tiny_prior, five, tmp_path):
    """A 2-node sweep simulated on this machine (README, "Several machines"): one restore.py per node,
    started by hand as on a cluster, meeting at MASTER_ADDR:MASTER_PORT (127.0.0.1 only), NODE_RANK 0 / 1."""
    image_folder, one = five
    out = tmp_path / "nodes"
    args = [*ddp_args(tiny_prior, image_folder, out, 1), "--trainer.strategy", "ddp", "--trainer.num_nodes", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(free_port()), "WORLD_SIZE": "2"}
    nodes = [subprocess.Popen([sys.executable, str(ROOT / "restore.py"), *args], cwd=tmp_path,
                              env={**env, "NODE_RANK": str(rank)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for rank in (0, 1)]
    try:
        errors = [node.communicate(timeout=300)[1] for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGKILL)
    assert [node.returncode for node in nodes] == [0, 0], errors[0][-2000:] + errors[1][-2000:]
    rows = read_csv(out / "metrics.csv")
    assert len(rows) == 5 * 3 * 3 and not (out / "shards").exists()
    assert_same_numbers(read_csv(one / "metrics.csv"), rows, 1e-5)
