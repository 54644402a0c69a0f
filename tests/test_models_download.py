"""Resumable, verified downloads against a fake HTTP opener (never the network)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.error import HTTPError

import pytest
import torch

import ddrm_lightning.models.download as download_module
from ddrm_lightning.models import (
    CheckpointUnavailableError,
    ChecksumMismatchError,
    ZOO,
    cache_root,
    download_file,
    load_classifier,
    load_model,
)

URL = "https://example.invalid/file.bin"
PAYLOAD = bytes(range(256)) * 300  # 76.8 kB, several reads of the fake body
MD5 = "md5:" + hashlib.md5(PAYLOAD).hexdigest()


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, status: int, fail_after: int | None = None):
        super().__init__(body)
        self.status = status
        self.headers = {"Content-Length": str(len(body))}
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise ConnectionResetError("connection reset by peer")
        return super().read(min(size, 4096) if size and size > 0 else size)


class FakeServer:
    """Serves PAYLOAD; honours Range unless told not to; can cut the connection after some bytes."""

    def __init__(self, body=PAYLOAD, honour_range=True, fail_after=None):
        self.body, self.honour_range, self.fail_after = body, honour_range, fail_after
        self.ranges: list[str | None] = []

    def __call__(self, request, timeout=None):
        assert request.full_url == URL
        requested = request.get_header("Range")
        self.ranges.append(requested)
        if requested and self.honour_range:
            start = int(requested.removeprefix("bytes=").removesuffix("-"))
            if start >= len(self.body):
                raise HTTPError(URL, 416, "Range Not Satisfiable", {}, None)
            return FakeResponse(self.body[start:], 206, self.fail_after)
        return FakeResponse(self.body, 200, self.fail_after)


@pytest.fixture
def serve(monkeypatch):
    def install(server: FakeServer) -> FakeServer:
        monkeypatch.setattr(download_module, "urlopen", server)
        return server

    return install


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def test_fresh_download_is_verified_and_renamed(tmp_path, serve):
    server = serve(FakeServer())
    dest = download_file(URL, tmp_path / "sub" / "file.bin", checksum=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD and not _part(dest).exists()
    assert server.ranges == [None]


def test_broken_transfer_is_resumed_with_a_range_request(tmp_path, serve):
    dest = tmp_path / "file.bin"
    serve(FakeServer(fail_after=30_000))
    with pytest.raises(CheckpointUnavailableError, match="run again to resume"):
        download_file(URL, dest, checksum=MD5, progress=False)
    kept = _part(dest).stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()

    server = serve(FakeServer())
    download_file(URL, dest, checksum=MD5, progress=False)
    assert server.ranges == [f"bytes={kept}-"]
    assert dest.read_bytes() == PAYLOAD and not _part(dest).exists()


def test_server_ignoring_range_restarts_the_file(tmp_path, serve):
    dest = tmp_path / "file.bin"
    _part(dest).write_bytes(b"stale bytes from another file")
    serve(FakeServer(honour_range=False))
    download_file(URL, dest, checksum=MD5, progress=False)
    assert dest.read_bytes() == PAYLOAD


def test_complete_partial_file_is_finished_without_a_body(tmp_path, serve):
    dest = tmp_path / "file.bin"
    _part(dest).write_bytes(PAYLOAD)
    server = serve(FakeServer())
    download_file(URL, dest, checksum=MD5, progress=False)
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"] and dest.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(tmp_path, serve):
    serve(FakeServer(body=PAYLOAD[:-1] + b"\x00"))
    dest = tmp_path / "file.bin"
    with pytest.raises(ChecksumMismatchError, match="expected " + MD5.removeprefix("md5:")):
        download_file(URL, dest, checksum=MD5, progress=False)
    assert not dest.exists() and not _part(dest).exists()


def test_zoo_download_with_a_wrong_checksum_leaves_the_cache_empty(tmp_path, monkeypatch):
    served = []

    def wrong_file(request, timeout=None):
        served.append(request.full_url)
        return FakeResponse(b"not the checkpoint", 200)

    monkeypatch.setattr(download_module, "urlopen", wrong_file)
    with pytest.raises(ChecksumMismatchError):
        load_model("lsun_bedroom", cache_dir=tmp_path)
    assert served == [ZOO["lsun_bedroom"].url]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_zoo_download_lands_in_the_cache_and_loads(tmp_path, monkeypatch):
    with torch.device("meta"):
        state = ZOO["classifier_512"].build().state_dict()  # names and shapes only, no data
    buffer = io.BytesIO()
    torch.save(state, buffer)
    served = []

    def publisher(request, timeout=None):
        served.append(request.full_url)
        return FakeResponse(buffer.getvalue(), 200)

    monkeypatch.setattr(download_module, "urlopen", publisher)
    loaded = load_classifier("classifier_512", cache_dir=tmp_path)
    assert served == [ZOO["classifier_512"].url]
    assert loaded.entry is ZOO["classifier_512"] and (tmp_path / "512x512_classifier.pt").is_file()
    load_classifier("classifier_512", cache_dir=tmp_path)  # now cached: no second request
    assert len(served) == 1


def test_cache_root_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("DDRM_LIGHTNING_CACHE", raising=False)
    assert cache_root() == Path.home() / ".cache" / "ddrm_lightning"
    monkeypatch.setenv("DDRM_LIGHTNING_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_a_sha256_prefix_is_a_checksum(tmp_path, serve):
    serve(FakeServer())
    prefix = hashlib.sha256(PAYLOAD).hexdigest()[:8]
    dest = download_file(URL, tmp_path / f"file-{prefix}.bin", checksum=f"sha256:{prefix}", progress=False)
    assert dest.read_bytes() == PAYLOAD
    serve(FakeServer(body=PAYLOAD[::-1]))
    with pytest.raises(ChecksumMismatchError, match=f"expected {prefix}... \\(the published prefix\\)"):
        download_file(URL, tmp_path / "other.bin", checksum=f"sha256:{prefix}", progress=False)


@pytest.mark.parametrize("checksum", ["sha256:abc", "sha256:" + "g" * 8, "crc:12345678", "md5:" + "0" * 40])
def test_malformed_checksums_are_refused(tmp_path, serve, checksum):
    serve(FakeServer())
    with pytest.raises(ValueError, match="checksum must look like"):
        download_file(URL, tmp_path / "file.bin", checksum=checksum, progress=False)


def test_an_existing_file_is_kept_without_a_request(tmp_path, serve):
    server = serve(FakeServer())
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"already here")
    assert download_file(URL, dest, checksum=MD5, progress=False) == dest
    assert dest.read_bytes() == b"already here" and server.ranges == []
