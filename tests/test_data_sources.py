"""FolderSource: discovery, ids, decoding of unusual modes, broken files, large images, file lists."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ddrm_lightning.data import BundledSource, FolderSource, bundled_source
from ddrm_lightning.data.decoding import decode_image, to_channels
from ddrm_lightning.data.file_list import name_key, read_file_list


def _save(path, img: Image.Image, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)


def _rgb(size=(6, 4), colour=(200, 30, 90)) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_folder_finds_every_extension_recursively_sorted(tmp_path):
    names = ["b.png", "a/x.JPG", "a/c/y.jpeg", "e.webp", "f.bmp", "g.tiff", "h.TIF", "a/z.PNG"]
    for name in names:
        fmt = {"jpg": "JPEG", "jpeg": "JPEG", "tif": "TIFF", "tiff": "TIFF"}.get(name.rsplit(".", 1)[1].lower())
        _save(tmp_path / name, _rgb(), format=fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden.png", _rgb())
    _save(tmp_path / ".cache" / "k.png", _rgb())

    source = FolderSource(tmp_path)
    assert source.ids == sorted(names)
    assert [r.id for r in source] == source.ids
    assert all(r.ok and r.image.size == (6, 4) for r in source)
    assert source[0].source == str(tmp_path / source.ids[0])
    assert FolderSource(tmp_path, recursive=False).ids == ["b.png", "e.webp", "f.bmp", "g.tiff", "h.TIF"]


def test_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        FolderSource(tmp_path / "missing")
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"no images.*\.png"):
        FolderSource(tmp_path)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        _save(tmp_path / "a.png", _rgb())
        FolderSource(tmp_path, channels=4)


def test_grayscale_and_one_channel(tmp_path):
    _save(tmp_path / "g.png", Image.fromarray(np.array([[0, 128], [255, 7]], dtype=np.uint8)))
    rgb = np.asarray(FolderSource(tmp_path)[0].image)
    assert rgb.shape == (2, 2, 3)
    assert (rgb == np.array([[0, 128], [255, 7]])[..., None]).all()
    gray = FolderSource(tmp_path, channels=1)[0].image
    assert gray.mode == "L" and np.asarray(gray).tolist() == [[0, 128], [255, 7]]


def test_rgba_composited_over_white(tmp_path):
    pixels = np.array([[[10, 20, 30, 255], [10, 20, 30, 0]], [[200, 0, 0, 128], [0, 0, 0, 255]]], dtype=np.uint8)
    _save(tmp_path / "a.png", Image.fromarray(pixels))
    out = np.asarray(FolderSource(tmp_path)[0].image).astype(int)
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 0].tolist() == pytest.approx([228, 127, 127], abs=2)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    _save(tmp_path / "p.png", img, transparency=1)
    out = np.asarray(FolderSource(tmp_path)[0].image)
    assert out[0, 0].tolist() == [255, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]


def test_cmyk_jpeg(tmp_path):
    _save(tmp_path / "c.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=95)
    out = np.asarray(FolderSource(tmp_path)[0].image).astype(int)
    assert out.shape == (8, 8, 3)
    assert out[4, 4].tolist() == pytest.approx([255, 0, 0], abs=8)


def test_sixteen_bit_png_is_rescaled_not_clipped(tmp_path):
    values = np.array([[0, 1000, 32896, 65535]], dtype=np.uint16)
    _save(tmp_path / "d.png", Image.fromarray(values))
    assert Image.open(tmp_path / "d.png").mode.startswith("I")
    record = FolderSource(tmp_path, channels=1)[0]
    assert np.asarray(record.image).tolist() == [[0, 4, 128, 255]]


def test_float_and_int32_modes():
    assert np.asarray(to_channels(Image.fromarray(np.array([[0.0, 0.5, 2.0]], dtype=np.float32)), 1)).tolist() == [
        [0, 128, 255]
    ]
    assert np.asarray(to_channels(Image.fromarray(np.array([[65535, 257]], dtype=np.int32)), 1)).tolist() == [
        [255, 1]
    ]


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    _save(tmp_path / "r.jpg", _rgb((40, 20)), exif=exif)
    assert FolderSource(tmp_path)[0].image.size == (20, 40)


@pytest.mark.parametrize(
    "name, content",
    [
        ("zero.png", b""),
        ("text.png", b"this is not an image\n"),
        ("trunc.png", "png"),
        ("trunc.jpg", "jpeg"),
    ],
)
def test_broken_files_become_error_records(tmp_path, name, content):
    if isinstance(content, str):
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, content)
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    (tmp_path / name).write_bytes(content)
    _save(tmp_path / "ok.png", _rgb())
    records = {r.id: r for r in FolderSource(tmp_path)}
    broken = records[name]
    assert broken.image is None and not broken.ok
    assert str(tmp_path / name) in broken.error and "\n" not in broken.error
    assert records["ok.png"].ok and records["ok.png"].error == ""


def test_large_jpeg_decodes_reduced_with_draft(tmp_path):
    _save(tmp_path / "big.jpg", Image.new("RGB", (6000, 4000), (10, 120, 240)), quality=80)
    reduced = FolderSource(tmp_path, draft_size=(256, 256))[0].image
    assert reduced.size == (750, 500)
    assert np.asarray(reduced)[250, 375].tolist() == pytest.approx([10, 120, 240], abs=4)
    # Orientation-aware: a (H, W) target must still be covered after the request.
    assert FolderSource(tmp_path, draft_size=(600, 100))[0].image.size == (1500, 1000)


def test_decompression_bomb_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    _save(tmp_path / "warn.png", _rgb((40, 40)))  # above the warning limit: still decoded
    _save(tmp_path / "bomb.png", _rgb((50, 50)))  # above twice the limit: reported
    records = {r.id: r for r in FolderSource(tmp_path)}
    assert records["warn.png"].ok
    assert "DecompressionBomb" in records["bomb.png"].error


def test_decode_image_accepts_bytes_and_pil():
    buffer = io.BytesIO()
    _rgb((3, 2)).save(buffer, "PNG")
    assert decode_image(buffer.getvalue()).size == (3, 2)
    assert decode_image(_rgb((3, 2)).convert("RGBA"), channels=1).mode == "L"
    with pytest.raises(ValueError, match="unsupported image data"):
        decode_image(12)


def test_file_list_restricts_folder(tmp_path):
    for name in ["n01/ILSVRC_1.JPEG", "n02/ILSVRC_2.JPEG", "n02/ILSVRC_3.JPEG"]:
        _save(tmp_path / "img" / name, _rgb(), format="JPEG")
    listing = tmp_path / "list.txt"
    listing.write_text("# subset\nn01/ILSVRC_1 0\nILSVRC_3.JPEG 7\n\nmissing_9 3\n")
    with pytest.warns(UserWarning, match="1 name"):
        source = FolderSource(tmp_path / "img", file_list=listing)
    assert source.ids == ["n01/ILSVRC_1.JPEG", "n02/ILSVRC_3.JPEG"]
    listing.write_text("nothing_here\n")
    with pytest.raises(ValueError, match="none of the names"):
        FolderSource(tmp_path / "img", file_list=listing)


def test_file_list_parsing(tmp_path):
    assert name_key("a/b/c.JPEG") == "c" and name_key("c.v2") == "c.v2"
    with pytest.raises(ValueError, match="does not exist"):
        read_file_list(tmp_path / "none.txt")
    (tmp_path / "empty.txt").write_text("\n# only a comment\n")
    with pytest.raises(ValueError, match="names no samples"):
        read_file_list(tmp_path / "empty.txt")


def test_bundled_source_ids(monkeypatch):
    photos = {"astronaut": 1, "lfw_subset": 2, "sklearn:china.jpg": 1}
    monkeypatch.setattr(
        bundled_source, "load_bundled", lambda name: [Image.new("RGBA", (4, 3), (9, 9, 9, 255))] * photos[name]
    )
    source = BundledSource(list(photos), channels=1)
    assert source.ids == ["astronaut.png", "lfw_subset/000.png", "lfw_subset/001.png", "china.png"]
    record = source[1]
    assert record.source == "bundled:lfw_subset" and record.image.mode == "L" and source.probe_size(1) == (3, 4)
    with pytest.raises(ValueError, match="more than once"):
        BundledSource(["astronaut", "astronaut"])
    with pytest.raises(ValueError, match="available: astronaut"):
        BundledSource(["mona_lisa"])
