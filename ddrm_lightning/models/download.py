"""Checkpoint cache and resumable, verified downloads (standard library ``urllib`` + a rich progress bar).

Every download goes through ``download_file``: a per-file lock (one process transfers, the
others wait and then find the file), ``<dest>.part`` resumed with an HTTP Range request, a
checksum check (md5, or a sha256 prefix as in torch hub file names) and an atomic rename.

Two environment variables change where and whether files come from:

* ``DDRM_LIGHTNING_MIRROR``: a base address (``http://``, ``https://`` or ``file://``) that
  replaces every published address; the mirror serves each file under its base name,
  ``<mirror>/<file name>`` (a flat folder).
* ``DDRM_LIGHTNING_OFFLINE`` or ``HF_HUB_OFFLINE`` set to 1/true/yes/on: callers that honour
  ``offline_reason()`` (the metric weights, ``python -m ddrm_lightning.fetch``) do not fetch.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, getproxies, proxy_bypass, url2pathname, urlopen

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .errors import CheckpointUnavailableError, ChecksumMismatchError

CACHE_ENV_VAR = "DDRM_LIGHTNING_CACHE"
MIRROR_ENV_VAR = "DDRM_LIGHTNING_MIRROR"
OFFLINE_ENV_VARS = ("DDRM_LIGHTNING_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_SCHEMES = ("http", "https", "file")
_CHUNK = 1 << 20
_MIN_PREFIX = 8


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where zoo checkpoints live: ``cache_dir``, else $DDRM_LIGHTNING_CACHE, else ~/.cache/ddrm_lightning."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    return Path("~/.cache/ddrm_lightning").expanduser()


def offline_reason() -> str | None:
    """``"HF_HUB_OFFLINE=1 is set"`` (or the project's own switch) when fetching is switched off, else None."""
    for name in OFFLINE_ENV_VARS:
        value = os.environ.get(name, "")
        if value.strip().lower() in _TRUE:
            return f"{name}={value} is set"
    return None


def mirror_url(url: str, name: str) -> str:
    """``url``, or ``<$DDRM_LIGHTNING_MIRROR>/<name>`` when a mirror is set."""
    base = os.environ.get(MIRROR_ENV_VAR, "").strip()
    if not base:
        return url
    if urlsplit(base).scheme not in _SCHEMES:
        raise ValueError(f"{MIRROR_ENV_VAR}={base!r} must be an http://, https:// or file:// address")
    return base.rstrip("/") + "/" + quote(name)


def unreachable_reason(url: str, timeout: float = 3.0) -> str | None:
    """None when a TCP connection to ``url``'s server (or its proxy) opens within ``timeout`` seconds, else why not.

    The name lookup runs in a helper thread because the socket timeout does not bound it:
    on a node whose DNS packets are dropped it could otherwise take half a minute.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = Path(url2pathname(parts.path))
        return None if path.exists() else f"{path} does not exist"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url} is not an http(s) or file address"
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    proxy = getproxies().get(parts.scheme)
    if proxy and not proxy_bypass(host):
        proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or host, proxy_parts.port or 8080
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except Exception as error:  # OSError mostly; anything else must not leave the caller waiting
            outcome.append(f"cannot reach {host}:{port} ({_describe(error)})")

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return outcome[0] if outcome else f"cannot reach {host}:{port} (no answer within {timeout:g} s)"


def _describe(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    return " ".join(str(reason).split()) or type(reason).__name__


def file_checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, expected = checksum.partition(":")
    expected = expected.lower()
    full = hashlib.new(algorithm).digest_size * 2 if algorithm in hashlib.algorithms_available else 0
    valid_hex = expected and all(c in "0123456789abcdef" for c in expected)
    if not full or not valid_hex or not _MIN_PREFIX <= len(expected) <= full:
        raise ValueError(
            f"checksum must look like 'md5:<hex>' or 'sha256:<hex>' (a prefix of at least {_MIN_PREFIX} "
            f"digits will do), got {checksum!r}"
        )
    return algorithm, expected


@contextmanager
def _exclusive(dest: Path) -> Iterator[None]:
    """Hold ``<dest>.lock`` (flock: released if the process dies); the lock file is removed afterwards.

    It is unlinked while still held, so a process that was waiting on it finds that it locked
    a file which is no longer the lock and starts over on a fresh one.
    """
    try:
        import fcntl
    except ImportError:  # no flock (Windows): filelock's portable lock, whose file stays behind
        from filelock import FileLock

        with FileLock(str(dest.with_name(dest.name + ".lock"))):
            yield
        return
    lock = dest.with_name(dest.name + ".lock")
    announced = False
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not announced:
                print(f"waiting for another process that is downloading {dest}", file=sys.stderr)
                announced = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _open(url: str, offset: int, timeout: float):
    """The HTTP response for ``url`` from byte ``offset`` on, or None when the partial file is already complete."""
    headers = {"User-Agent": "ddrm-lightning"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and offset:  # nothing left past offset
            return None
        raise CheckpointUnavailableError(f"{url} answered HTTP {err.code} {err.reason}") from None
    except (URLError, OSError, http.client.HTTPException) as err:
        reason = _describe(err)
        if reason == "timed out":
            reason = f"no answer within {timeout:g} s"
        raise CheckpointUnavailableError(f"cannot reach {url} ({reason})") from None


def _resumed_from(response, offset: int) -> int:
    """The byte the body starts at: ``offset`` for a matching 206, 0 when the server sends the whole file."""
    status = getattr(response, "status", None) or response.getcode()
    if not offset or status != 206:
        return 0
    content_range = response.headers.get("Content-Range", "")
    start = content_range.removeprefix("bytes ").split("-", 1)[0]
    if content_range and start.strip() != str(offset):
        raise CheckpointUnavailableError(
            f"{response.geturl()} resumed at the wrong byte ({content_range!r} for a request from byte {offset})"
        )
    return offset


def _progress(label: str, enabled: bool) -> Progress:
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    return Progress(*columns, transient=True, disable=not enabled)


def _copy_body(response, part: Path, offset: int, label: str, progress: bool, url: str = "") -> None:
    offset = _resumed_from(response, offset)
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    received = offset
    source = f" from {url}" if url else ""
    bar = _progress(label, progress)
    try:
        bar.start()
    except Exception:  # another live display that cannot nest (older rich): go without the bar
        bar = _progress(label, False)
    with bar, open(part, "ab" if offset else "wb") as f:
        task = bar.add_task(label, total=total, completed=offset)
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                received += len(chunk)
                bar.update(task, completed=received)
        except (OSError, http.client.HTTPException) as err:
            why = _describe(err)
            raise CheckpointUnavailableError(
                f"the transfer of {label}{source} stopped after {received} bytes ({why}); run again to resume"
            ) from None
    if total is not None and received < total:
        raise CheckpointUnavailableError(
            f"the transfer of {label}{source} stopped after {received} of {total} bytes; run again to resume"
        )


def download_file(
    url: str,
    dest: Path,
    *,
    checksum: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    mirror_name: str | None = None,
) -> Path:
    """Download ``url`` to ``dest``: through ``dest.part`` (resumed with an HTTP Range request when a
    previous transfer broke off), checked against ``checksum`` ("md5:<hex>", or "sha256:<hex>" where
    a prefix of at least 8 digits will do) when given, then renamed into place atomically. A bad
    checksum deletes the partial file and raises ``ChecksumMismatchError``.

    With ``$DDRM_LIGHTNING_MIRROR`` set the file comes from ``<mirror>/<mirror_name or dest.name>``.
    Concurrent calls for one ``dest`` (several processes of a node) take turns on ``<dest>.lock``:
    one transfers, the others then find ``dest`` in place and return it without a request.
    ``timeout`` bounds the connection and every wait for data, in seconds.
    """
    dest = Path(dest)
    url = mirror_url(url, mirror_name or dest.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(dest):
        if dest.is_file():  # another process finished it while this one waited
            return dest
        part = dest.with_name(dest.name + ".part")
        offset = part.stat().st_size if part.exists() else 0
        response = _open(url, offset, timeout)
        if response is not None:
            with response:
                _copy_body(response, part, offset, dest.name, progress, url)
        if checksum is not None:
            algorithm, expected = _parse_checksum(checksum)
            actual = file_checksum(part, algorithm)
            if not actual.startswith(expected):
                part.unlink()
                expected_text = expected if len(expected) == len(actual) else f"{expected}... (the published prefix)"
                raise ChecksumMismatchError(
                    f"{url} gave a file with {algorithm} {actual}, expected {expected_text}; the partial file was deleted"
                )
        os.replace(part, dest)
    return dest
