"""Checkpoint cache and resumable, verified downloads (standard library ``urllib`` + a rich progress bar)."""

from __future__ import annotations

import hashlib
import http.client
import os
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .errors import ChecksumMismatchError, CheckpointUnavailableError

CACHE_ENV_VAR = "DDRM_LIGHTNING_CACHE"
_CHUNK = 1 << 20


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where zoo checkpoints live: ``cache_dir``, else $DDRM_LIGHTNING_CACHE, else ~/.cache/ddrm_lightning."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    return Path("~/.cache/ddrm_lightning").expanduser()


def file_checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algorithm, _, expected = checksum.partition(":")
    if not expected or algorithm not in hashlib.algorithms_available:
        raise ValueError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algorithm, expected.lower()


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
    except (URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise CheckpointUnavailableError(f"cannot reach {url} ({reason})") from None


def _copy_body(response, part: Path, offset: int, label: str, progress: bool) -> None:
    status = getattr(response, "status", None) or response.getcode()
    if offset and status != 206:  # the server ignored the Range request and sends the whole file
        offset = 0
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    received = offset
    with Progress(*columns, transient=True, disable=not progress) as bar, open(part, "ab" if offset else "wb") as f:
        task = bar.add_task(label, total=total, completed=offset)
        try:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                f.write(chunk)
                received += len(chunk)
                bar.update(task, completed=received)
        except (OSError, http.client.HTTPException) as err:
            raise CheckpointUnavailableError(
                f"the transfer of {label} stopped after {received} bytes ({err}); run again to resume"
            ) from None
    if total is not None and received < total:
        raise CheckpointUnavailableError(
            f"the transfer of {label} stopped after {received} of {total} bytes; run again to resume"
        )


def download_file(
    url: str, dest: Path, *, checksum: str | None = None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``dest``: through ``dest.part`` (resumed with an HTTP Range request when a
    previous transfer broke off), checked against ``checksum`` ("md5:<hex>") when given, then renamed
    into place atomically. A bad checksum deletes the partial file and raises ``ChecksumMismatchError``.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    response = _open(url, offset, timeout)
    if response is not None:
        with response:
            _copy_body(response, part, offset, dest.name, progress)
    if checksum is not None:
        algorithm, expected = _parse_checksum(checksum)
        actual = file_checksum(part, algorithm)
        if actual != expected:
            part.unlink()
            raise ChecksumMismatchError(
                f"{url} gave a file with {algorithm} {actual}, expected {expected}; the partial file was deleted"
            )
    os.replace(part, dest)
    return dest
