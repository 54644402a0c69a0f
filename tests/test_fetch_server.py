"""The downloader (zoo checkpoints and metric weights) against a real HTTP server on 127.0.0.1.

The server serves bytes the tests generate; DDRM_LIGHTNING_MIRROR points every published address
at it. A guard refuses any connection to another address, so nothing here leaves the machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from ddrm_lightning.models import CheckpointUnavailableError, ChecksumMismatchError, ZOO, download_file, load_classifier
from ddrm_lightning.models import load_model

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = bytes(range(256)) * 1200  # 307 kB: several 64 kB writes
PUBLISHED = "https://publisher.example.invalid/files/"  # never contacted: the mirror replaces it


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Mirror:
    """A threaded HTTP/1.0 server on 127.0.0.1 with per-file behaviours, recording every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}  # answer this status instead of the file
        self.drop_after: dict[str, int] = {}  # the next full transfer closes after this many bytes
        self.stall_headers: dict[str, float] = {}  # wait this long before answering at all
        self.stall_body: dict[str, float] = {}  # send the headers, then wait this long
        self.gate: threading.Event | None = None  # when set up, a transfer pauses after its first chunk until set
        self.requests: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                mirror._serve(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def gets(self, name: str) -> list[str | None]:
        """The Range header of every request for ``name`` (None for a request of the whole file)."""
        return [r for path, r in self.requests if path == "/" + name]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        name = handler.path.lstrip("/")
        requested = handler.headers.get("Range")
        with self._lock:
            self.requests.append((handler.path, requested))
        time.sleep(self.stall_headers.get(name, 0.0))
        if name in self.status or name not in self.files:
            handler.send_error(self.status.get(name, 404))
            return
        body, start = self.files[name], 0
        if requested:
            start = int(requested.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                handler.send_error(416)
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            handler.send_response(200)
        handler.send_header("Content-Length", str(len(body) - start))
        handler.end_headers()
        time.sleep(self.stall_body.get(name, 0.0))
        limit = self.drop_after.pop(name, None) if not requested else None
        remaining = body[start:] if limit is None else body[start : start + limit]
        try:
            for i in range(0, len(remaining), 65536):
                handler.wfile.write(remaining[i : i + 65536])
                handler.wfile.flush()
                if self.gate is not None:
                    self.gate.wait(60)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if limit is not None:
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        if address[0] not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a connection to {address} was attempted")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # a proxy would be another address


@pytest.fixture
def mirror(monkeypatch, tmp_path, loopback_only):
    """A running mirror, DDRM_LIGHTNING_MIRROR pointing at it, an empty torch hub cache, fetching allowed."""
    server = Mirror()
    monkeypatch.setenv("DDRM_LIGHTNING_MIRROR", server.url)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for name in ("DDRM_LIGHTNING_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    from ddrm_lightning.metrics import forget_failures

    forget_failures()
    yield server
    forget_failures()
    server.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- the transfer itself
def test_complete_download_through_the_mirror(mirror, tmp_path):
    mirror.files["file.bin"] = PAYLOAD
    dest = download_file(PUBLISHED + "file.bin", tmp_path / "cache" / "file.bin",
                         checksum="sha256:" + sha256(PAYLOAD)[:8], progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(dest.parent) == ["file.bin"]  # no .part, no .lock
    assert mirror.gets("file.bin") == [None]


def test_a_dropped_connection_is_resumed_with_a_range_request(mirror, tmp_path):
    mirror.files["file.bin"] = PAYLOAD
    mirror.drop_after["file.bin"] = 100_000
    dest = tmp_path / "file.bin"
    checksum = "sha256:" + sha256(PAYLOAD)
    with pytest.raises(CheckpointUnavailableError, match=r"stopped after 100000 of 307200 bytes; run again to resume"):
        download_file(PUBLISHED + "file.bin", dest, checksum=checksum, progress=False)
    part = tmp_path / "file.bin.part"
    assert part.stat().st_size == 100_000 and not dest.exists()
    download_file(PUBLISHED + "file.bin", dest, checksum=checksum, progress=False)
    assert mirror.gets("file.bin") == [None, "bytes=100000-"]
    assert dest.read_bytes() == PAYLOAD and leftovers(tmp_path) == ["file.bin"]


def test_a_checksum_mismatch_removes_the_file(mirror, tmp_path):
    mirror.files["file.bin"] = PAYLOAD[:-1] + b"\x00"
    with pytest.raises(ChecksumMismatchError, match=rf"{mirror.url}/file.bin gave a file with sha256 .*expected "
                                                    rf"{sha256(PAYLOAD)[:8]}\.\.\. \(the published prefix\)"):
        download_file(PUBLISHED + "file.bin", tmp_path / "file.bin", checksum="sha256:" + sha256(PAYLOAD)[:8],
                      progress=False)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("status, reason", [(404, "Not Found"), (403, "Forbidden")])
def test_http_errors_name_the_address(mirror, tmp_path, status, reason):
    mirror.status["file.bin"] = status
    with pytest.raises(CheckpointUnavailableError, match=rf"^{mirror.url}/file.bin answered HTTP {status} {reason}$"):
        download_file(PUBLISHED + "file.bin", tmp_path / "file.bin", progress=False)
    assert leftovers(tmp_path) == []


def test_a_server_that_stalls_times_out(mirror, tmp_path):
    mirror.files["late.bin"] = mirror.files["slow.bin"] = PAYLOAD
    mirror.stall_headers["late.bin"] = 3.0
    mirror.stall_body["slow.bin"] = 3.0  # longer than the timeout: without it both downloads would succeed
    with pytest.raises(CheckpointUnavailableError, match=rf"cannot reach {mirror.url}/late.bin \(no answer within 0.5 s\)"):
        download_file(PUBLISHED + "late.bin", tmp_path / "late.bin", progress=False, timeout=0.5)
    with pytest.raises(CheckpointUnavailableError,
                       match=rf"slow.bin from {mirror.url}/slow.bin stopped after 0 bytes \(timed out\)"):
        download_file(PUBLISHED + "slow.bin", tmp_path / "slow.bin", progress=False, timeout=0.5)


def test_two_processes_fetching_one_file_make_one_file(mirror, tmp_path):
    mirror.files["big.bin"] = PAYLOAD * 4
    mirror.gate = threading.Event()  # the first transfer stays open until the second process waits for it
    dest = tmp_path / "cache" / "big.bin"
    code = ("import sys; from ddrm_lightning.models.download import download_file; "
            "download_file(sys.argv[1], __import__('pathlib').Path(sys.argv[2]), checksum=sys.argv[3], progress=False)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", code, PUBLISHED + "big.bin", str(dest), "sha256:" + sha256(PAYLOAD * 4)]

    def start():
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    first = start()
    deadline = time.monotonic() + 60
    while not mirror.gets("big.bin") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mirror.gets("big.bin"), "the first process never asked for the file"
    second = start()
    line = second.stderr.readline()  # blocks until the second process reports that it waits
    assert "waiting for another process that is downloading" in line, line
    assert (tmp_path / "cache" / "big.bin.part").is_file() and not dest.exists()
    mirror.gate.set()
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert dest.read_bytes() == PAYLOAD * 4 and leftovers(dest.parent) == ["big.bin"]
    assert mirror.gets("big.bin") == [None]  # the second found the file in place: no request of its own


# --------------------------------------------------------------------------- the zoo through the mirror
def test_zoo_checkpoint_with_a_wrong_md5_leaves_the_cache_empty(mirror, tmp_path):
    mirror.files["model-2388000.ckpt"] = b"not the checkpoint"
    cache = tmp_path / "zoo"
    with pytest.raises(ChecksumMismatchError, match="md5"):
        load_model("lsun_bedroom", cache_dir=cache)
    assert mirror.gets("model-2388000.ckpt") == [None]
    assert [p for p in cache.rglob("*") if p.is_file()] == []


def test_zoo_checkpoint_is_fetched_from_the_mirror_and_loads(mirror, tmp_path):
    with torch.device("meta"):
        state = ZOO["classifier_512"].build().state_dict()  # names and shapes only
    buffer = io.BytesIO()
    torch.save(state, buffer)
    mirror.files["512x512_classifier.pt"] = buffer.getvalue()
    loaded = load_classifier("classifier_512", cache_dir=tmp_path)
    assert loaded.entry is ZOO["classifier_512"] and (tmp_path / "512x512_classifier.pt").is_file()
    load_classifier("classifier_512", cache_dir=tmp_path)  # cached now: no second request
    assert mirror.gets("512x512_classifier.pt") == [None]


def test_a_folder_can_be_the_mirror(monkeypatch, tmp_path, loopback_only):
    folder = tmp_path / "mirror"
    folder.mkdir()
    (folder / "file.bin").write_bytes(PAYLOAD)
    monkeypatch.setenv("DDRM_LIGHTNING_MIRROR", folder.as_uri())
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "file.bin.part").write_bytes(b"stale")  # a file:// source cannot resume: restarted
    dest = download_file(PUBLISHED + "file.bin", tmp_path / "cache" / "file.bin", checksum="sha256:" + sha256(PAYLOAD),
                         progress=False)
    assert dest.read_bytes() == PAYLOAD and leftovers(dest.parent) == ["file.bin"]


def test_a_bad_mirror_address_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("DDRM_LIGHTNING_MIRROR", "ftp://somewhere/")
    with pytest.raises(ValueError, match="DDRM_LIGHTNING_MIRROR='ftp://somewhere/' must be an http"):
        download_file(PUBLISHED + "file.bin", tmp_path / "file.bin", progress=False)
