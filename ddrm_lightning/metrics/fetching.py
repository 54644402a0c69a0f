"""Fetching the metrics' weight files into the torch hub cache on first use.

The transfer is the zoo's (``models.download.download_file``): rich progress bar, resume,
the sha256 prefix in the published file name checked, atomic rename, and a per-file lock so
that of several processes of a node one downloads and the others wait for its file.

A file that cannot be had gives ``Unavailable`` with one line saying why and the exact path to
place it at, never an exception and never a hang: the server is first probed with a short
connection timeout (name lookup included, see ``download.unreachable_reason``), and a failure is
remembered for ``FAILURE_MEMORY_S`` seconds, so the next metric or task of the same process does
not wait again. Nothing is fetched when ``download`` is False or ``offline_reason()`` says so
(``HF_HUB_OFFLINE=1``, ``DDRM_LIGHTNING_OFFLINE=1``); ``DDRM_LIGHTNING_MIRROR`` redirects every
address to a mirror.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from ..models.download import (
    download_file,
    mirror_url,
    offline_reason,
    unreachable_reason,
)
from ..models.errors import CheckpointError
from .availability import Unavailable
from .weights import (
    WeightFile,
    cached_weight,
    find_weights,
    hub_checkpoint_dir,
    weight_file,
)

PROBE_TIMEOUT_S = 3.0  # connection set-up, name lookup included
READ_TIMEOUT_S = 30.0  # the longest wait for data once connected
FAILURE_MEMORY_S = 120.0

_lock = threading.Lock()
_probes: dict[tuple[str, str, int | None], tuple[float, str | None]] = {}
_failures: dict[tuple[str, str], tuple[float, str]] = {}


def forget_failures() -> None:
    """Forget remembered unreachable servers and failed transfers (e.g. once the network is back)."""
    with _lock:
        _probes.clear()
        _failures.clear()


def _remembered(table: dict, key):
    with _lock:
        entry = table.get(key)
    if entry is not None and time.monotonic() - entry[0] < FAILURE_MEMORY_S:
        return entry
    return None


def _server_key(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or parts.path, parts.port


def _probe(url: str) -> str | None:
    key = _server_key(url)
    known = _remembered(_probes, key)
    if known is not None:
        return known[1]
    reason = unreachable_reason(url, PROBE_TIMEOUT_S)
    with _lock:
        _probes[key] = (time.monotonic(), reason)
    return reason


def _source_url(weight: WeightFile) -> str:
    return mirror_url(weight.url, weight.file_name)


def _missing(weight: WeightFile, why: str) -> Unavailable:
    dest = hub_checkpoint_dir() / weight.file_name
    return Unavailable(
        f"{weight.what} weights are not in the torch hub cache and were not fetched ({why}): place "
        f"{weight.file_name} ({weight.size_mib:.0f} MiB, from {weight.url}) at {dest}, or run "
        f"`python -m ddrm_lightning.fetch {weight.fetch_group}` where there is a network"
    )


def obtain_weight(
    weight: WeightFile | str,
    location: str | Path | None = None,
    *,
    download: bool = True,
    progress: bool = True,
    accept_any_file: bool = True,
) -> Path | Unavailable:
    """The local file of ``weight``: the given ``location`` (a file or folder, never fetched into),
    else the torch hub cache, fetching it there first when it is missing and ``download`` allows."""
    weight = weight_file(weight) if isinstance(weight, str) else weight
    if location is not None:
        return find_weights(weight.file_names, location, weight.what, accept_any_file=accept_any_file)
    cached = cached_weight(weight)
    if cached is not None:
        return cached
    if not download:
        return _missing(weight, "fetching is off: --metrics.download false")
    offline = offline_reason()
    if offline:
        return _missing(weight, offline)
    try:
        url = _source_url(weight)
    except ValueError as error:
        return _missing(weight, str(error))
    failure_key = (url, weight.file_name)
    failed = _remembered(_failures, failure_key)
    if failed is not None:
        return _missing(weight, failed[1])
    reason = _probe(url)
    if reason is None:
        try:
            return download_file(weight.url, hub_checkpoint_dir() / weight.file_name, checksum=weight.checksum,
                                 progress=progress, timeout=READ_TIMEOUT_S)
        except (CheckpointError, OSError) as error:
            reason = " ".join(str(error).split())
    with _lock:
        _failures[failure_key] = (time.monotonic(), reason)
    return _missing(weight, reason)


def obtain_weights(
    keys: Iterable[str], *, download: bool = True, progress: bool = True
) -> dict[str, Path | Unavailable]:
    """``obtain_weight`` of several files from the hub cache; their servers are probed at the same time,
    so an offline machine waits at most one probe timeout in all."""
    weights = [weight_file(k) for k in dict.fromkeys(keys)]
    missing = [w for w in weights if cached_weight(w) is None]
    if download and offline_reason() is None and len(missing) > 1:
        try:
            urls = {_server_key(u): u for u in (_source_url(w) for w in missing)}
        except ValueError:
            urls = {}
        probes = [threading.Thread(target=_probe, args=(u,), daemon=True) for u in urls.values()]
        for thread in probes:
            thread.start()
        for thread in probes:
            thread.join(PROBE_TIMEOUT_S + 1.0)
    return {w.key: obtain_weight(w, download=download, progress=progress) for w in weights}
