"""Data source components (``data.source``), their short names, and how a sweep is split between ranks."""

from __future__ import annotations

import io

import datasets
import pytest
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from PIL import Image

from ddrm_lightning.data import (
    Bundled,
    BundledSource,
    Folder,
    FolderSource,
    HFSource,
    HuggingFace,
    HuggingFaceStream,
    SamplePrep,
    rank_indices,
    rank_samples,
)
from ddrm_lightning.data.components import make_source, source_class
from ddrm_lightning.data.sample_datasets import IndexStream, MapSamples, StreamSamples
from ddrm_lightning.cli.data_args import normalize_data


@pytest.fixture(autouse=True)
def _isolated_hf_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "b.png", "sub/c.png"):
        Image.new("RGB", (6, 5), (len(name), 0, 0)).save(root / name)
    return root


@pytest.fixture
def saved(tmp_path):
    cells = []
    for i in range(5):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), (i, 0, 0)).save(buffer, "PNG")
        cells.append({"bytes": buffer.getvalue(), "path": f"r{i}.png"})
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int32")})
    datasets.Dataset.from_dict({"image": cells, "label": list(range(5))}, features=features).save_to_disk(
        str(tmp_path / "ds"))
    return str(tmp_path / "ds")


def test_folder_builds_a_folder_source(images):
    component = Folder(str(images), recursive=False)
    source = component.build(channels=1, draft_size=(8, 8))
    assert isinstance(source, FolderSource) and source.ids == ["a.png", "b.png"]
    assert source.channels == 1 and source.draft_size == (8, 8)
    assert component.input_folders() == [str(images)]
    assert not component.has_labels and component.ids_known_locally and not component.loads_lazily
    assert Folder(str(images)).build().ids == ["a.png", "b.png", "sub/c.png"]


def test_huggingface_builds_a_map_style_source(saved, tmp_path):
    (tmp_path / "list.txt").write_text("r1\nr3\n")
    component = HuggingFace(saved, split="train", label_column="label", file_list=str(tmp_path / "list.txt"))
    source = component.build(draft_size=(2, 2))
    assert isinstance(source, HFSource) and not source.is_streaming
    assert source.ids == ["r1.png", "r3.png"] and source[1].label == 3
    assert component.has_labels and component.ids_known_locally and component.loads_lazily
    assert component.input_folders() == [saved]
    hub = HuggingFace("someone/dataset")
    assert hub.input_folders() == [] and not hub.ids_known_locally and not hub.has_labels


def test_huggingface_stream_builds_a_streamed_source(saved):
    component = HuggingFaceStream(saved, id_column=None)
    source = component.build()
    assert isinstance(source, HFSource) and source.is_streaming and source.ids is None
    assert [r.id for r in source] == [f"r{i}.png" for i in range(5)]
    assert not component.ids_known_locally  # ids arrive with the rows
    assert component.input_folders() == [saved]


def test_bundled_builds_the_demo_photos():
    component = Bundled()
    source = component.build(channels=3)
    assert isinstance(source, BundledSource)
    assert source.ids == ["astronaut.png", "coffee.png", "chelsea.png", "rocket.png"]
    assert Bundled(["camera"]).build().ids == ["camera.png"]
    assert component.input_folders() == [] and not component.has_labels


@pytest.mark.parametrize("name,component", [("folder", Folder), ("Folder", Folder), ("hf", HuggingFace),
                                            ("ddrm_lightning.data.HuggingFace", HuggingFace),
                                            ("hf_stream", HuggingFaceStream), ("bundled", Bundled),
                                            ("ddrm_lightning.data.components.Bundled", Bundled)])
def test_short_names_class_names_and_paths_resolve(name, component):
    assert source_class(name) is component


def test_unknown_source_and_foreign_settings_fail_in_one_line(images):
    with pytest.raises(ValueError, match=r"^unknown data source 's3'; allowed: folder \(Folder\), hf \(HuggingFace\), "
                                         r"hf_stream \(HuggingFaceStream\), bundled \(Bundled\)$"):
        source_class("s3")
    with pytest.raises(ValueError) as error:
        make_source("folder", {"root": str(images), "split": "train", "label_column": "x"})
    assert str(error.value) == ("split, label_column are not settings of the folder source (Folder); its settings: "
                                "root, recursive, file_list")
    assert make_source("bundled", {"names": ["camera"]}) == Bundled(["camera"])
    with pytest.raises(ValueError, match="the folder source needs root"):
        Folder("")
    with pytest.raises(ValueError, match="the hf_stream source needs path"):
        HuggingFaceStream("")


def test_flat_config_keys_become_the_component():
    data, flat = normalize_data({"source": "hf", "hf_path": "x", "hf_split": "train", "streaming": True,
                                 "root": None, "image_size": 8})
    assert flat == ["root", "hf_path", "hf_split", "streaming"]
    assert data == {"source": {"class_path": "ddrm_lightning.data.HuggingFaceStream",
                               "init_args": {"path": "x", "split": "train"}}, "image_size": 8}
    assert normalize_data({"root": "photos"})[0]["source"] == {"class_path": "ddrm_lightning.data.Folder",
                                                               "init_args": {"root": "photos"}}
    component = {"source": {"class_path": "Folder", "init_args": {"root": "p"}}}
    assert normalize_data(component) == (component, [])  # jsonargparse resolves class names itself
    assert normalize_data({"source": {"class_path": "folder"}})[0]["source"]["class_path"] == "ddrm_lightning.data.Folder"
    with pytest.raises(ValueError, match="data.label_column belongs to the hf source, but the source is folder"):
        normalize_data({"source": "folder", "root": "p", "label_column": "label"})


@pytest.mark.parametrize("n,world", [(10, 3), (7, 2), (4, 4), (2, 4), (0, 3), (5, 1)])
def test_rank_r_of_w_gets_every_wth_index_once(n, world):
    indices = [10 + 3 * i for i in range(n)]  # source indices, not positions
    shares = [rank_indices(indices, rank, world) for rank in range(world)]
    for rank, share in enumerate(shares):
        assert share == [indices[p] for p in range(rank, n, world)]
    assert sorted(i for share in shares for i in share) == indices
    assert max(map(len, shares)) - min(map(len, shares)) <= 1
    if n >= world:  # what Lightning's predict sampler gives each rank of a map-style loader
        for rank, share in enumerate(shares):
            positions = list(UnrepeatedDistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False))
            assert [indices[p] for p in positions] == share


def test_rank_indices_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError, match="need 0 <= rank < world_size, got rank=2, world_size=2"):
        rank_indices([1, 2, 3], 2, 2)
    with pytest.raises(ValueError, match="world_size=0"):
        rank_indices([1], 0, 0)


def test_rank_samples_with_fewer_images_than_ranks(images):
    source = Folder(str(images)).build()
    prep = SamplePrep(geometry="resize", image_size=(4, 4))
    shares = [rank_samples(source, prep, rank, 4, indices=[0, 1, 2]) for rank in range(4)]
    assert all(isinstance(s, IndexStream) for s in shares)  # one rank gets none: not a sized loader
    assert [[sample["id"] for sample in share] for share in shares] == [["a.png"], ["b.png"], ["sub/c.png"], []]
    enough = rank_samples(source, prep, 1, 2, indices=[0, 1, 2])
    assert isinstance(enough, MapSamples) and len(enough) == 3  # Lightning's sampler splits it
    with pytest.raises(ValueError, match="needs the selected indices"):
        rank_samples(source, prep, 0, 1)


def test_rank_samples_splits_a_stream(saved):
    source = HuggingFaceStream(saved).build()
    prep = SamplePrep(geometry="resize", image_size=(4, 4))
    shares = [rank_samples(source, prep, rank, 2, exclude={"r0.png"}) for rank in range(2)]
    assert all(isinstance(s, StreamSamples) for s in shares)
    ids = [[sample["id"] for sample in share] for share in shares]
    assert ids == [["r1.png", "r3.png"], ["r2.png", "r4.png"]]
