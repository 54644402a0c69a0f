"""RestorationDataModule: validation, ids, exclusions, measurement mode and predict batches end to end."""

from __future__ import annotations

import io
from types import SimpleNamespace

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from ddrm_lightning.data import (
    BATCH_KEYS,
    Bundled,
    Folder,
    HuggingFace,
    HuggingFaceStream,
    RestorationDataModule,
)
from ddrm_lightning.randomness import sample_seed


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


def _write(path, size=(12, 10), value=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


@pytest.fixture
def folder(tmp_path):
    """Five images (one of them in a sub-folder) and one truncated PNG."""
    root = tmp_path / "images"
    for i, name in enumerate(["a.png", "b.png", "c.png", "sub/d.png", "e.png"]):
        _write(root / name, value=i)
    (root / "broken.png").write_bytes((root / "a.png").read_bytes()[:40])
    return root


def _batches(dm: RestorationDataModule) -> list[dict]:
    dm.setup("predict")
    return list(dm.predict_dataloader())


def test_predict_batches_end_to_end(folder):
    dm = RestorationDataModule(Folder(str(folder)), image_size=8, batch_size=4, seed=7)
    batches = _batches(dm)
    assert [len(b["id"]) for b in batches] == [4, 2]
    batch = batches[0]
    assert set(batch) == set(BATCH_KEYS)
    assert batch["id"] == ["a.png", "b.png", "broken.png", "c.png"]
    assert batch["image"].shape == (4, 3, 8, 8) and batch["image"].dtype == torch.float32
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert batch["seed"].dtype == torch.long
    assert batch["seed"].tolist() == [sample_seed(7, i) for i in batch["id"]]
    assert batch["label"].tolist() == [-1] * 4
    assert batch["orig_size"].tolist()[0] == [10, 12]
    assert batch["source"][1] == str(folder / "b.png")
    assert batch["error"][0] == "" and "broken.png" in batch["error"][2]
    assert torch.count_nonzero(batch["image"][2]) == 0


def test_seeds_do_not_depend_on_order_batching_or_limit(folder):
    def seeds(**kwargs):
        dm = RestorationDataModule(Folder(str(folder)), image_size=8, **kwargs)
        return {i: s for b in _batches(dm) for i, s in zip(b["id"], b["seed"].tolist(), strict=True)}

    everything = seeds(batch_size=4)
    assert seeds(batch_size=1, limit=2) == {k: everything[k] for k in ["a.png", "b.png"]}
    assert seeds(batch_size=3)["sub/d.png"] == everything["sub/d.png"] == sample_seed(0, "sub/d.png")
    assert seeds(batch_size=4, seed=1)["a.png"] != everything["a.png"]


def test_limit_and_exclude_ids(folder):
    dm = RestorationDataModule(Folder(str(folder)), image_size=8, batch_size=2, limit=4)
    assert dm.all_ids() == ["a.png", "b.png", "broken.png", "c.png"]
    dm.exclude_ids({"a.png", "c.png", "e.png"})
    produced = [i for b in _batches(dm) for i in b["id"]]
    assert produced == ["b.png", "broken.png"]
    assert dm.all_ids() == ["a.png", "b.png", "broken.png", "c.png"]


def test_measurement_mode_loads_images_as_they_are(tmp_path):
    _write(tmp_path / "lr" / "x.png", size=(7, 5), value=3)
    dm = RestorationDataModule(Folder(str(tmp_path / "lr")), image_size=256, measured=True, batch_size=1)
    batch = _batches(dm)[0]
    original = np.asarray(Image.open(tmp_path / "lr" / "x.png"), dtype=np.float32) / 255 * 2 - 1
    assert batch["image"].shape == (1, 3, 5, 7)
    assert torch.allclose(batch["image"][0], torch.from_numpy(original).permute(2, 0, 1))
    assert batch["orig_size"].tolist() == [[5, 7]]


def test_pad_with_mixed_sizes_falls_back_to_batch_one(tmp_path):
    _write(tmp_path / "m" / "a.png", size=(30, 20))
    _write(tmp_path / "m" / "b.png", size=(50, 40))
    dm = RestorationDataModule(Folder(str(tmp_path / "m")), geometry="pad", pad_multiple=16, batch_size=4)
    with pytest.warns(UserWarning, match="reduced to 1"):
        batches = _batches(dm)
    assert [b["image"].shape for b in batches] == [(1, 3, 32, 32), (1, 3, 48, 64)]
    assert [b["orig_size"].tolist() for b in batches] == [[[20, 30]], [[40, 50]]]


def test_pad_with_one_padded_size_keeps_batches(tmp_path):
    _write(tmp_path / "m" / "a.png", size=(30, 20))
    _write(tmp_path / "m" / "b.png", size=(31, 17))
    dm = RestorationDataModule(Folder(str(tmp_path / "m")), geometry="pad", pad_multiple=16, batch_size=4)
    (batch,) = _batches(dm)
    assert batch["image"].shape == (2, 3, 32, 32)
    assert batch["orig_size"].tolist() == [[20, 30], [17, 31]]


def test_one_channel_and_non_square_size(folder):
    dm = RestorationDataModule(Folder(str(folder)), image_size=(6, 10), channels=1, geometry="resize", batch_size=6)
    (batch,) = _batches(dm)
    assert batch["image"].shape == (6, 1, 6, 10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "folder"}, "source must be a data source component"),
        ({"source": Folder("/definitely/not/here")}, "does not exist"),
        ({"geometry": "stretch"}, "allowed: center_crop, resize, pad"),
        ({"image_size": 0}, "image_size"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1"),
        ({"num_workers": -1}, "num_workers"),
        ({"limit": 0}, "limit"),
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"pad_multiple": 0}, "pad_multiple"),
        ({"source": Bundled(["nope"])}, "unknown bundled photo"),
    ],
)
def test_bad_arguments_fail_before_any_work(folder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        RestorationDataModule(**{"source": Folder(str(folder)), **kwargs})


def test_cli_parses_the_constructor(folder):
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser()
    parser.add_class_arguments(RestorationDataModule, "data")
    help_text = io.StringIO()
    parser.print_help(help_text)
    assert "already degraded observations" in help_text.getvalue()
    args = ["--data.source", "Folder", "--data.source.root", str(folder), "--data.image_size", "[16, 24]",
            "--data.geometry", "resize"]
    config = parser.parse_args(args)
    dm = parser.instantiate_classes(config).data
    assert isinstance(dm, RestorationDataModule) and dm.image_size == (16, 24)
    assert dm.source == Folder(str(folder))
    assert dm.all_ids() == ["a.png", "b.png", "broken.png", "c.png", "e.png", "sub/d.png"]


def _hf_dataset(tmp_path, n=8) -> str:
    cells = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.new("RGB", (9, 6), (i * 30, 0, 0)).save(buffer, "PNG")
        cells.append({"bytes": buffer.getvalue(), "path": f"f{i}.png"})
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int32")})
    datasets.Dataset.from_dict({"image": cells, "label": list(range(n))}, features=features).save_to_disk(
        str(tmp_path / "hf")
    )
    return str(tmp_path / "hf")


def test_hf_map_style_dataset(tmp_path):
    dm = RestorationDataModule(HuggingFace(_hf_dataset(tmp_path), label_column="label"), image_size=4, batch_size=8)
    dm.prepare_data()
    (batch,) = _batches(dm)
    assert batch["id"] == [f"f{i}.png" for i in range(8)]
    assert batch["label"].tolist() == list(range(8))
    assert batch["source"][0] == str(tmp_path / "hf")
    assert dm.all_ids() == batch["id"]


def test_hf_streaming_is_sharded_by_rank(tmp_path):
    path = _hf_dataset(tmp_path)
    produced = []
    for rank in range(2):
        dm = RestorationDataModule(HuggingFaceStream(path), image_size=4, batch_size=3)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        dm.exclude_ids({"f0.png"})
        assert dm.all_ids() is None
        produced.append([i for b in _batches(dm) for i in b["id"]])
    assert set(produced[0]).isdisjoint(produced[1])
    assert sorted(produced[0] + produced[1]) == [f"f{i}.png" for i in range(1, 8)]


@pytest.mark.parametrize("limit", [None, 5])
def test_hf_streaming_with_loader_workers_yields_each_id_once(tmp_path, limit):
    dm = RestorationDataModule(HuggingFaceStream(_hf_dataset(tmp_path)), image_size=4, batch_size=2, num_workers=2,
                               limit=limit)
    produced = [i for b in _batches(dm) for i in b["id"]]
    assert sorted(produced) == [f"f{i}.png" for i in range(limit or 8)]


def test_exp_demo_images(exp_data_dir):
    dm = RestorationDataModule(Folder(str(exp_data_dir)), image_size=256, batch_size=2, limit=2)
    (batch,) = _batches(dm)
    assert batch["error"] == ["", ""] and batch["image"].shape == (2, 3, 256, 256)
    # The demo images are already 256x256: the paper's centre crop leaves them untouched.
    original = np.asarray(Image.open(exp_data_dir / batch["id"][0]).convert("RGB"), dtype=np.float32)
    assert torch.allclose(batch["image"][0], torch.from_numpy(original / 255 * 2 - 1).permute(2, 0, 1))


def test_bundled_demo_photos():
    dm = RestorationDataModule(Bundled(), image_size=16, batch_size=8)
    assert dm.all_ids() == ["astronaut.png", "coffee.png", "chelsea.png", "rocket.png"]
    (batch,) = _batches(dm)
    assert batch["image"].shape == (4, 3, 16, 16) and batch["error"] == [""] * 4
    assert batch["source"][0] == "bundled:astronaut"
    assert batch["orig_size"].tolist()[0] == [512, 512]
