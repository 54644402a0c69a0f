"""Prior training (PriorTraining, train.py) and the embedded prior."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from conftest import TINY_DDPM, restore_args, run_process_group, tiny_training_config, write_images

from ddrm_lightning.data.training import RandomCrops, TrainingDataModule
from ddrm_lightning.models.embedded import EMBEDDED_PRIOR
from ddrm_lightning.models import load_model
from ddrm_lightning.models.export import with_native_size
from ddrm_lightning.prior import PriorTraining
from conftest import RESTORED

ROOT = Path(__file__).resolve().parents[1]


def tiny_prior_module(**kwargs) -> PriorTraining:
    return PriorTraining(family="ddpm", network=TINY_DDPM, **kwargs)


def test_optimisation_lowers_the_loss_and_ema_follows():
    torch.manual_seed(0)  # weight initialisation of the test network only
    prior = tiny_prior_module(lr=2e-3, ema_decay=0.9)
    prior._generator = torch.Generator().manual_seed(0)
    x0 = torch.linspace(-1, 1, 16).view(1, 1, 1, 16).expand(8, 3, 16, 16).contiguous()
    optimizer = prior.configure_optimizers()
    ema_before = [p.detach().clone() for p in prior.ema.module.parameters()]

    def mean_loss():
        with torch.no_grad():
            gen_state = prior._generator.get_state()
            prior._generator.manual_seed(123)
            loss = sum(prior.diffusion_loss(x0) for _ in range(8)) / 8
            prior._generator.set_state(gen_state)
        return float(loss)

    before = mean_loss()
    for _ in range(30):
        loss = prior.diffusion_loss(x0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        prior.on_train_batch_end(None, None, 0)
    assert mean_loss() < 0.8 * before
    moved = [not torch.equal(a, b) for a, b in zip(ema_before, prior.ema.module.parameters())]
    assert all(moved)
    lagging = [not torch.equal(a, b) for a, b in zip(prior.network.parameters(), prior.ema.module.parameters())]
    assert any(lagging)  # an average, not a copy


def test_random_crops_are_deterministic_and_in_range():
    from PIL import Image

    images = [Image.new("RGB", (40, 30), (10, 200, 30)), Image.new("RGB", (50, 60), (250, 0, 100))]
    crops = RandomCrops(images, crop_size=16, length=10, seed=3, scale_min=1.0, scale_max=2.0)
    a, b = crops[4]["image"], RandomCrops(images, 16, 10, 3, 1.0, 2.0)[4]["image"]
    assert a.shape == (3, 16, 16) and torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(crops[4]["image"], RandomCrops(images, 16, 10, 4, 1.0, 2.0)[4]["image"])


def test_training_data_rejects_bad_settings():
    with pytest.raises(ValueError, match="source"):
        TrainingDataModule(source="web")
    with pytest.raises(ValueError, match="root"):
        TrainingDataModule(source="folder")


def test_prior_needs_a_network_or_checkpoint():
    with pytest.raises(ValueError, match="network"):
        PriorTraining(network=None, init_from=None)


@pytest.mark.slow
def test_train_py_checkpoint_restores_through_restore_py(tmp_path):
    from ddrm_lightning.cli import main as restore_main
    from ddrm_lightning.cli.train import main as train_main

    tiny_training_config(tmp_path)
    assert train_main(["--config", str(tmp_path / "train.yaml")]) == 0
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    export = tmp_path / "train" / "prior.pt"
    assert ckpt.exists() and export.exists() and (tmp_path / "train" / "loss.png").exists()
    loaded = load_model(export)
    assert loaded.family == "ddpm" and loaded.config["model"]["ch"] == TINY_DDPM["model"]["ch"]
    for checkpoint in (ckpt, export):
        out = tmp_path / f"restored_{checkpoint.suffix[1:]}"
        assert restore_main(restore_args(checkpoint, tmp_path / "photos", out)) == 0
        rows = list(csv.DictReader(open(out / "metrics.csv")))
        assert rows and all(r["status"] in RESTORED for r in rows)


@pytest.mark.slow
def test_train_py_on_two_ddp_processes_finishes_and_writes_checkpoint_and_export(tmp_path):
    """The README's several-device command: every rank must leave fit (it once hung in on_train_end)."""
    config = tiny_training_config(tmp_path)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = run_process_group([sys.executable, str(ROOT / "train.py"), "--config", str(config),
                              "--trainer.devices", "2", "--trainer.strategy", "ddp"], cwd=tmp_path, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "train" / "checkpoints" / "last.ckpt").exists()
    assert load_model(tmp_path / "train" / "prior.pt").family == "ddpm"
    assert (tmp_path / "train" / "loss.png").exists()
    assert "EMA network written to" in proc.stdout
    said = proc.stdout + proc.stderr  # Lightning's tips, FLOPs table and start-up lines stay hidden
    for noise in ("Tip:", "FLOPs", "GPU available", "Initializing distributed", "Grad strides", "args parameter"):
        assert noise not in said, noise


def test_embedded_prior_ships_and_matches_its_recipe():
    assert EMBEDDED_PRIOR.exists(), "the embedded prior is part of the package"
    assert EMBEDDED_PRIOR.stat().st_size <= 20 * 2**20
    stage1 = yaml.safe_load((ROOT / "configs" / "train" / "v5" / "k4_all.yaml").read_text())
    stage2 = yaml.safe_load((ROOT / "configs" / "train" / "v5" / "k4_128_v6.yaml").read_text())
    assert stage2["model"]["init_from"].startswith(stage1["out_dir"] + "/checkpoints/"), \
        "the 128² stage continues from a checkpoint of the 64² run"
    assert "step=12000" in stage2["model"]["init_from"] and stage2["trainer"]["max_steps"] == 2500
    loaded = load_model(EMBEDDED_PRIOR)
    assert loaded.family == stage1["model"]["family"]
    # the 128² stage trains the 64² run's network on 128² crops; the shipped file declares 128 as its own size
    size = stage2["data"]["crop_size"]
    assert loaded.config == with_native_size(loaded.family, stage1["model"]["network"], size)
    assert loaded.image_size == size == 128
    assert torch.allclose(loaded.betas[[0, -1]].float(), torch.tensor([1e-4, 0.02]))


def test_default_sweep_smoke_on_one_tiny_image(tmp_path):
    """The default config (embedded prior, three tasks) on one 16×16 photo, 2 steps."""
    from ddrm_lightning.cli import main

    write_images(tmp_path / "one", 1, size=(16, 16))
    out = tmp_path / "out"
    args = ["--data.root", str(tmp_path / "one"),
            "--data.image_size", "16", "--model.steps", "2", "--out_dir", str(out),
            "--trainer.accelerator", "cpu", "--report", "false"]
    assert main(args) == 0
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert {r["task"] for r in rows} == {"deno_sigma0.1", "sr4_sigma0.05", "deblur_gauss_sigma0.05"}
    assert all(r["status"] in RESTORED for r in rows)


def test_cosine_schedule_warms_up_then_decays_to_its_floor():
    from ddrm_lightning.prior import cosine_factor

    factors = [cosine_factor(step, warmup=10, total=110, floor=0.1) for step in range(0, 120)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))
    assert all(a >= b for a, b in zip(factors[10:110], factors[11:110]))
    assert factors[110] == pytest.approx(0.1) and factors[119] == pytest.approx(0.1)


def test_bad_schedule_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown lr_schedule 'linear'; allowed: constant, cosine"):
        tiny_prior_module(lr_schedule="linear")
    with pytest.raises(ValueError, match="lr_min_ratio in"):
        tiny_prior_module(lr_schedule="cosine", lr_min_ratio=2.0)


def test_focused_training_draws_the_samplers_timesteps_and_still_covers_the_rest():
    schedule = set(range(0, 1000, 40))  # DDRM's 25-step skip over T = 1000
    only = tiny_prior_module(focus_steps=25, focus_fraction=1.0)
    only._generator = torch.Generator().manual_seed(0)
    assert set(only.sample_timesteps(4000).tolist()) == schedule
    half = tiny_prior_module(focus_steps=25, focus_fraction=0.5)
    half._generator = torch.Generator().manual_seed(0)
    t = half.sample_timesteps(20000)
    on_schedule = np.isin(t.numpy(), sorted(schedule)).mean()
    assert 0.48 < on_schedule < 0.53  # half focused, plus the uniform half's 2.5 % that land there
    assert len(set(t.tolist()) - schedule) > 900


def test_unfocused_training_draws_timesteps_as_before():
    prior = tiny_prior_module()
    prior._generator = torch.Generator().manual_seed(5)
    expected = torch.randint(0, 1000, (64,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(prior.sample_timesteps(64), expected)


def test_bad_focus_settings_are_one_line_errors():
    with pytest.raises(ValueError, match=r"focus_fraction must be in \(0, 1\]"):
        tiny_prior_module(focus_steps=25, focus_fraction=0.0)
    with pytest.raises(ValueError, match="timesteps must be between 1 and the schedule length 1000"):
        tiny_prior_module(focus_steps=2000)


def test_dropout_is_set_for_training_and_idle_in_eval(tmp_path):
    torch.manual_seed(0)  # weight initialisation of the test network only
    path = tmp_path / "prior.pt"
    source = tiny_prior_module()
    with torch.no_grad():
        for weight in source.ema.module.parameters():  # no zero-initialised layer that hides dropout
            weight.normal_(0.0, 0.2)
    torch.save(source.export(), path)
    prior = PriorTraining(init_from=str(path), dropout=0.3)
    rates = {layer.p for layer in prior.network.modules() if isinstance(layer, torch.nn.Dropout)}
    assert rates == {0.3}
    x, t = torch.randn(1, 3, 16, 16), torch.tensor([500])
    with torch.no_grad():
        assert not torch.equal(prior(x, t), prior(x, t))  # training mode: random units dropped
        prior.network.eval()
        assert torch.equal(prior(x, t), prior(x, t))
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        PriorTraining(init_from=str(path), dropout=1.0)


def test_large_photos_are_shrunk_once_to_the_largest_crop_scale():
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 900, 3), dtype=np.uint8))
    crops = RandomCrops([photo], crop_size=16, length=4, seed=0, scale_min=1.0, scale_max=4.0)
    assert min(crops.images[0].size) == 64 and crops.images[0].size[0] == 144
    assert crops[0]["image"].shape == (3, 16, 16)


def test_training_files_are_added_and_a_missing_one_is_named(tmp_path):
    Image.new("RGB", (40, 30), (200, 10, 10)).save(tmp_path / "extra.png")
    dm = TrainingDataModule(source="bundled", names=["camera"], files=[str(tmp_path / "extra.png")])
    assert len(dm.load_images()) == 2
    with pytest.raises(ValueError, match="not found: .*nowhere.png"):
        TrainingDataModule(files=[str(tmp_path / "nowhere.png")])


def test_the_cosine_horizon_can_lie_beyond_the_run():
    class Trainer:
        max_steps = 100

    prior = tiny_prior_module(lr=1.0, lr_schedule="cosine", lr_warmup_steps=0, lr_min_ratio=0.0, lr_total_steps=400)
    prior._trainer = Trainer()
    scheduler = prior.configure_optimizers()["lr_scheduler"]["scheduler"]
    for _ in range(200):
        scheduler.optimizer.step()
        scheduler.step()
    assert scheduler.get_last_lr()[0] == pytest.approx(0.5)  # half-way along a 400-step cosine, not its end


def _crops_seen(new_crops_each_epoch: bool, epochs: int, tmp_path, resume_from_epoch: int | None = None) -> list:
    import lightning as L

    class Recorder(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen = []

        def training_step(self, batch, index):
            self.seen.append((self.current_epoch, round(float(batch["image"].double().sum()), 6)))
            return (self.weight - 1).pow(2).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    def data():
        dm = TrainingDataModule(names=["camera"], crop_size=8, crops_per_epoch=4, batch_size=2, num_workers=1,
                                new_crops_each_epoch=new_crops_each_epoch)
        dm.load_images = lambda: [Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8))]
        return dm

    def trainer(max_epochs):
        return L.Trainer(max_epochs=max_epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, accelerator="cpu", devices=1,
                         callbacks=[L.pytorch.callbacks.ModelCheckpoint(dirpath=tmp_path, save_last=True)])

    if resume_from_epoch is None:
        model = Recorder()
        trainer(epochs).fit(model, datamodule=data())
        return model.seen
    trainer(resume_from_epoch).fit(Recorder(), datamodule=data())
    model = Recorder()
    trainer(epochs).fit(model, datamodule=data(), ckpt_path=str(tmp_path / "last.ckpt"))
    return model.seen


def test_every_epoch_trains_on_new_crops_also_after_a_resume(tmp_path):
    """A loader built once would hand its workers epoch 0's number for good: the same crops every epoch
    (how the priors up to v3 were trained). Each epoch now draws its own, and a run resumed at an
    epoch's end sees what an unbroken run sees."""
    seen = _crops_seen(True, 3, tmp_path / "a")
    by_epoch = [[f for e, f in seen if e == epoch] for epoch in range(3)]
    assert len(by_epoch[0]) == 2 and len({tuple(b) for b in by_epoch}) == 3
    assert _crops_seen(True, 3, tmp_path / "b", resume_from_epoch=1) == [s for s in seen if s[0] >= 1]
    repeated = _crops_seen(False, 3, tmp_path / "c")
    assert [f for _, f in repeated] == by_epoch[0] * 3  # the old behaviour, kept for stage 1's recipe
