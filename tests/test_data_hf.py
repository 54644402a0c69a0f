"""HFSource on local datasets: ids, labels, file lists, broken rows, streaming and its sharding."""

from __future__ import annotations

import io

import datasets
import numpy as np
import pytest
from PIL import Image

from ddrm_lightning.data import HFSource, rank_rows, shard_stream


@pytest.fixture(autouse=True)
def _private_hf_cache(tmp_path, monkeypatch):
    # Builders write lock files into the datasets cache; keep them out of the user's home.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf_cache"))


def _png(value: int, size=(5, 4)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (value, 255 - value, 7)).save(buffer, "PNG")
    return buffer.getvalue()


def _features(**extra) -> datasets.Features:
    return datasets.Features({"image": datasets.Image(), **extra})


def _save(path, columns: dict, features: datasets.Features) -> str:
    datasets.Dataset.from_dict(columns, features=features).save_to_disk(str(path))
    return str(path)


@pytest.fixture
def named_dataset(tmp_path) -> str:
    """Ten rows with file names img_0.png ... img_9.png, labels 10·i and a broken row 7."""
    cells = [{"bytes": _png(20 * i), "path": f"img_{i}.png"} for i in range(10)]
    cells[7] = {"bytes": b"garbage, not a png", "path": "img_7.png"}
    return _save(
        tmp_path / "named",
        {"image": cells, "label": [10 * i for i in range(10)], "key": [f"k{i}" for i in range(10)]},
        _features(label=datasets.Value("int64"), key=datasets.Value("string")),
    )


def test_saved_dataset_ids_are_file_names_and_labels_read(named_dataset):
    source = HFSource(named_dataset, label_column="label")
    assert source.id_source == "file_name"
    assert source.ids == [f"img_{i}.png" for i in range(10)]
    record = source[3]
    assert record.id == "img_3.png" and record.label == 30 and record.ok
    assert np.asarray(record.image)[0, 0].tolist() == [60, 195, 7]
    assert HFSource(named_dataset)[3].label == -1


def test_broken_row_is_an_error_record(named_dataset):
    record = HFSource(named_dataset)[7]
    assert record.image is None and "img_7.png" in record.error and named_dataset in record.error


def test_index_ids_without_file_names(tmp_path):
    images = [Image.new("RGB", (3, 3), (i, i, i)) for i in range(4)]
    features = _features(y=datasets.ClassLabel(num_classes=4))
    path = _save(tmp_path / "plain", {"image": images, "y": [0, 1, 2, 3]}, features)
    source = HFSource(path, label_column="y")
    assert source.id_source == "index" and source.ids == ["0", "1", "2", "3"]
    assert source[2].label == 2 and np.asarray(source[2].image)[0, 0].tolist() == [2, 2, 2]


def test_id_column_and_its_uniqueness(named_dataset, tmp_path):
    source = HFSource(named_dataset, id_column="key")
    assert source.id_source == "column" and source.ids[:2] == ["k0", "k1"]
    columns = {"image": [_png(1), _png(2)], "key": ["a", "a"]}
    path = _save(tmp_path / "dup", columns, _features(key=datasets.Value("string")))
    with pytest.raises(ValueError, match="duplicate"):
        HFSource(path, id_column="key")


def test_dataset_dict_split(tmp_path):
    split = datasets.Dataset.from_dict({"image": [_png(1)]}, features=_features())
    datasets.DatasetDict({"validation": split, "train": split}).save_to_disk(str(tmp_path / "dd"))
    assert len(HFSource(tmp_path / "dd", split="train")) == 1
    with pytest.raises(ValueError, match="available: validation, train"):
        HFSource(tmp_path / "dd", split="test")


def test_column_validation(named_dataset):
    with pytest.raises(ValueError, match="column 'pixels' not in dataset"):
        HFSource(named_dataset, image_column="pixels")
    with pytest.raises(ValueError, match="label_column 'key'.*integers"):
        HFSource(named_dataset, label_column="key")
    with pytest.raises(ValueError, match="image_column 'label'"):
        HFSource(named_dataset, image_column="label")


def test_file_list_restricts_by_name_with_or_without_folder_and_extension(named_dataset, tmp_path):
    listing = tmp_path / "subset.txt"
    listing.write_text("n0/img_2 5\nimg_5.png\nimg_8.JPEG\n")
    assert HFSource(named_dataset, file_list=listing).ids == ["img_2.png", "img_5.png", "img_8.png"]
    streamed = HFSource(named_dataset, file_list=listing, streaming=True)
    assert [r.id for r in streamed] == ["img_2.png", "img_5.png", "img_8.png"]


def test_local_image_folder_via_load_dataset(tmp_path):
    for i in range(3):
        folder = tmp_path / "imgs" / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), (i, 0, 0)).save(folder / f"p{i}.png")
    source = HFSource(str(tmp_path / "imgs"), cache_dir=str(tmp_path / "cache"))
    assert source.ids == ["p0.png", "p1.png", "p2.png"]
    assert np.asarray(source[1].image)[0, 0].tolist() == [1, 0, 0]


def test_streaming_keeps_ids_order_and_errors(named_dataset):
    source = HFSource(named_dataset, streaming=True, label_column="label")
    assert source.ids is None and source.id_source == "file_name"
    records = list(source)
    assert [r.id for r in records] == [f"img_{i}.png" for i in range(10)]
    assert [r.label for r in records] == [10 * i for i in range(10)]
    assert [r.ok for r in records].count(False) == 1 and not records[7].ok
    with pytest.raises(ValueError, match="streamed"):
        source[0]


def _ids(rows) -> list[str]:
    return [row["id"] for row in rows]


def test_two_ranks_get_disjoint_complete_balanced_shares(named_dataset):
    source = HFSource(named_dataset, streaming=True)
    shares = [_ids(rank_rows(source, rank, 2)) for rank in range(2)]
    assert set(shares[0]).isdisjoint(shares[1])
    assert sorted(shares[0] + shares[1]) == sorted(f"img_{i}.png" for i in range(10))
    assert len(shares[0]) == len(shares[1]) == 5
    # Rows finished before a resume are dropped before the split: still balanced.
    done = {"img_0.png", "img_2.png", "img_4.png"}
    shares = [_ids(rank_rows(source, rank, 2, exclude=done)) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == sorted(f"img_{i}.png" for i in (1, 3, 5, 6, 7, 8, 9))
    assert sorted(map(len, shares)) == [3, 4]


def test_limit_and_exclusions_apply_before_the_split(named_dataset):
    source = HFSource(named_dataset, streaming=True)
    done = {"img_0.png", "img_1.png", "img_2.png"}
    shares = [_ids(rank_rows(source, rank, 2, limit=7, exclude=done)) for rank in range(2)]
    assert sorted(shares[0] + shares[1]) == [f"img_{i}.png" for i in range(3, 7)]
    assert len(shares[0]) == len(shares[1]) == 2


def test_index_ids_stay_global_when_streaming(tmp_path):
    images = [Image.new("RGB", (2, 2), (i, 0, 0)) for i in range(9)]
    path = _save(tmp_path / "plain", {"image": images}, _features())
    source = HFSource(path, streaming=True)
    assert source.id_source == "index"
    shares = [rank_rows(source, rank, 3) for rank in range(3)]
    records = [source.record_from_row(row["id"], row["row"]) for share in shares for row in share]
    assert {r.id: int(np.asarray(r.image)[0, 0, 0]) for r in records} == {str(i): i for i in range(9)}


def _simulate_workers(rows, workers: int) -> list[str]:
    # A DataLoader worker w gets its own part of the shards of ``rows``, like HF does.
    return [i for w in range(workers) for i in _ids(rows.shard(num_shards=workers, index=w, contiguous=False))]


@pytest.mark.parametrize("limit, expected_shards", [(None, 10), (8, 2)])
def test_ranks_and_workers_partition_the_stream(named_dataset, limit, expected_shards):
    # No limit: the stream's own shards (one per row here); a limit: one slot per worker.
    source = HFSource(named_dataset, streaming=True)
    seen = []
    for rank in range(2):
        rows = rank_rows(source, rank, 2, num_workers=2, limit=limit)
        assert rows.num_shards == expected_shards
        seen += _simulate_workers(rows, 2)
    # Every (rank, worker) pair reads a different part, and together they read everything once.
    assert sorted(seen) == sorted(f"img_{i}.png" for i in range(limit or 10))


def test_shard_stream_validates_rank(named_dataset):
    rows = HFSource(named_dataset, streaming=True).stream_rows()
    with pytest.raises(ValueError, match="0 <= rank < world_size"):
        shard_stream(rows, 2, 2)
