"""Result tables: shards, merge, de-duplication, resume bookkeeping, summary; output-folder guards."""

from __future__ import annotations

import pytest
import yaml

from ddrm_lightning import sweep_io
from ddrm_lightning.sweep_io import MetricsRow, OutputDirError, prepare_out_dir
from ddrm_lightning.restoration.task import Task


def _row(i, task="deno", method="ddrm", status="ok", psnr=20.0):
    return MetricsRow(id=f"img{i}.png", task=task, method=method, scores={"psnr": float(psnr)}, status=status)


def test_shards_merge_into_one_row_per_key(tmp_path):
    sweep_io.write_shard(tmp_path, 0, [_row(0, status="error"), _row(1)])
    sweep_io.write_shard(tmp_path, 1, [_row(2), _row(0, psnr=30.0)])  # a retry of img0 succeeded
    merged = sweep_io.merge(tmp_path)
    assert [(r.id, r.status) for r in merged] == [("img0.png", "ok"), ("img1.png", "ok"), ("img2.png", "ok")]
    assert merged[0].scores["psnr"] == 30.0
    assert not list((tmp_path / "shards").glob("*.csv"))
    # Merging again with a new shard keeps the old rows.
    sweep_io.write_shard(tmp_path, 0, [_row(3)])
    assert len(sweep_io.merge(tmp_path)) == 4


def test_finished_ids_need_every_task_ok(tmp_path):
    sweep_io.write_shard(tmp_path, 0, [_row(0), _row(0, task="sr4"), _row(1), _row(1, task="sr4", status="error"),
                                      _row(2, method="observed")])
    assert sweep_io.finished_ids(tmp_path, ["deno", "sr4"]) == {"img0.png"}
    assert sweep_io.finished_ids(tmp_path, ["deno"]) == {"img0.png", "img1.png"}


def test_summary_means_over_ok_rows_and_counts_errors():
    rows = [_row(0, psnr=10.0), _row(1, psnr=20.0), _row(2, status="error", psnr="nan")]
    summary = {(r["metric"]): r for r in sweep_io.summarize(rows)}
    assert summary["psnr"]["mean"] == pytest.approx(15.0)
    assert summary["psnr"]["std"] == pytest.approx(7.0710678)
    assert summary["psnr"]["count"] == 2
    assert summary["errors"]["mean"] == 1


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    sweep_io.atomic_write_text(tmp_path / "a.csv", "x\n")
    sweep_io.atomic_write_text(tmp_path / "a.csv", "y\n")
    assert (tmp_path / "a.csv").read_text() == "y\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_out_dir_inside_input_is_refused(tmp_path):
    with pytest.raises(OutputDirError, match="inside the input folder"):
        prepare_out_dir(tmp_path / "in" / "out", {}, input_dirs=[tmp_path / "in"], overwrite=False, write=True)
    with pytest.raises(OutputDirError, match="inside the input folder"):
        prepare_out_dir(tmp_path / "in", {}, input_dirs=[tmp_path / "in"], overwrite=False, write=True)


def test_out_dir_with_other_config_needs_overwrite(tmp_path):
    config = {"model": {"timesteps": 20, "cache_dir": None}, "data": {"seed": 0, "batch_size": 4}, "trainer": {"devices": 1}}
    prepare_out_dir(tmp_path, config, input_dirs=[], overwrite=False, write=True).release()
    assert yaml.safe_load((tmp_path / "config.yaml").read_text()) == config
    # Batch size and devices change no number: resuming with them is fine.
    same = {"model": {"timesteps": 20, "cache_dir": "x"}, "data": {"seed": 0, "batch_size": 8}, "trainer": {"devices": 2}}
    prepare_out_dir(tmp_path, same, input_dirs=[], overwrite=False, write=True).release()
    (tmp_path / "metrics.csv").write_text("id\n")
    other = {"model": {"timesteps": 50}, "data": {"seed": 0, "batch_size": 8}}
    with pytest.raises(OutputDirError, match="model.steps"):
        prepare_out_dir(tmp_path, other, input_dirs=[], overwrite=False, write=True)
    assert (tmp_path / "metrics.csv").exists()
    assert not (tmp_path / ".lock").exists()  # a refused run gives the lock back
    prepare_out_dir(tmp_path, other, input_dirs=[], overwrite=True, write=True).release()
    assert not (tmp_path / "metrics.csv").exists()


def test_unwritable_out_dir_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputDirError, match="cannot create"):
        prepare_out_dir(blocker / "out", {}, input_dirs=[], overwrite=False, write=True)


@pytest.mark.parametrize("sigma_y", [-0.1, float("nan"), float("inf")])
def test_task_rejects_bad_sigma(sigma_y):
    with pytest.raises(ValueError, match="sigma_y"):
        Task(operator="deno", sigma_y=sigma_y)


def test_task_default_name_and_sigma0():
    task = Task(operator="sr4", sigma_y=0.05)
    assert task.name == "sr4_sigma0.05" and task.sigma_0 == pytest.approx(0.1)


def test_a_metrics_row_survives_the_csv_round_trip(tmp_path):
    row = MetricsRow(id="a/b.png", task="sr4_sigma0.05", method="ddrm", source="in/a/b.png", operator="sr4",
                     sigma_y=0.05, seed=9007199254740993,  # 63-bit seeds are written as integers
                     scores={"psnr": float("inf"), "ssim": float("nan"), "lpips_alex": 0.25},
                     params='{"eta": 0.85}', seconds=1.5, status="error", message="non-finite values, at step 3")
    baseline = MetricsRow(id="a/b.png", task="sr4_sigma0.05", method="wiener", scores={"psnr": 20.0})
    sweep_io.write_shard(tmp_path, 0, [row, baseline])
    back = {r.method: r for r in sweep_io.merge(tmp_path)}
    again = {r.method: r for r in sweep_io.read_metrics(tmp_path / "metrics.csv")}
    for read in (back, again):
        got = read["ddrm"]
        assert got.scores["ssim"] != got.scores["ssim"]  # NaN stays NaN
        assert {k: v for k, v in got.scores.items() if k != "ssim"} == {"psnr": float("inf"), "lpips_alex": 0.25}
        assert (got.id, got.source, got.operator, got.sigma_y, got.seed, got.params, got.seconds, got.status,
                got.message) == (row.id, row.source, row.operator, 0.05, row.seed, row.params, 1.5, "error",
                                 row.message)
        assert read["wiener"].scores == {"psnr": 20.0} and read["wiener"].seconds is None and read["wiener"].ok
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == ["id", "task", "method", "source", "operator", "sigma_y", "seed", "psnr", "ssim", "lpips_alex",
                      "params", "seconds", "status", "message"]
