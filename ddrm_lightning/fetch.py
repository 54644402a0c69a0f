"""Fetch pretrained files ahead of time, e.g. on a login node for compute nodes that are offline.

    python -m ddrm_lightning.fetch lpips fid celeba_hq      # metric weights and zoo checkpoints
    python -m ddrm_lightning.fetch --list                   # what is cached, where, from where

Names: ``lpips`` (AlexNet and VGG16 backbones), ``lpips_alex``, ``lpips_vgg``, ``fid`` / ``kid`` /
``giqa`` / ``inception`` (the FID Inception-v3), ``metrics`` (all three files) go to the torch hub
cache (``$TORCH_HOME/hub/checkpoints``); zoo names (``celeba_hq``, ``lsun_bedroom``, …, with the
classifier of a guided model) go to the zoo cache (``--cache-dir``, else $DDRM_LIGHTNING_CACHE,
else ~/.cache/ddrm_lightning). ``DDRM_LIGHTNING_MIRROR`` fetches everything from a mirror instead.
Exit status: 0 when every file is in place, 1 when one could not be had, 2 for a bad name.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .metrics.availability import Unavailable
from .metrics.fetching import obtain_weight
from .metrics.weights import (
    METRIC_GROUPS,
    WEIGHT_FILES,
    cached_weight,
    hub_checkpoint_dir,
    lpips_linear_file,
)
from .models.download import MIRROR_ENV_VAR, cache_root, mirror_url, offline_reason
from .models.errors import CheckpointError
from .models.zoo import ZOO


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f} MiB"


def _source(url: str, name: str) -> str:
    try:
        return mirror_url(url, name)
    except ValueError as error:
        return f"({error})"


def listing(cache_dir: str | None = None) -> list[str]:
    """The lines ``--list`` prints: every metric weight and zoo checkpoint, cached or not, and its source."""
    hub = hub_checkpoint_dir()
    lines = [f"metric weights (torch hub cache {hub}):"]
    for weight in WEIGHT_FILES.values():
        found = cached_weight(weight)
        state = f"cached, {_size(found)} at {found}" if found else f"missing, {weight.size_mib:.0f} MiB"
        lines.append(f"  {weight.file_name:<44} {weight.used_by:<16} {state}  <- {_source(weight.url, weight.file_name)}")
    lines.append("LPIPS linear layers (v0.1, shipped with torchmetrics, never fetched):")
    for net in ("alex", "vgg"):
        linear = lpips_linear_file(net)
        lines.append(f"  {net + '.pth':<44} {'lpips_' + net:<16} {'present' if linear.is_file() else 'MISSING'} at {linear}")
    root = cache_root(cache_dir)
    lines.append(f"zoo checkpoints (cache {root}):")
    for entry in ZOO.values():
        path = root / entry.file_name
        state = f"cached, {_size(path)}" if path.is_file() else "missing"
        lines.append(f"  {entry.name:<22} {entry.file_name:<48} {state}  <- {_source(entry.url, Path(entry.file_name).name)}")
    if os.environ.get(MIRROR_ENV_VAR, "").strip():
        lines.append(f"mirror: {MIRROR_ENV_VAR}={os.environ[MIRROR_ENV_VAR].strip()} (<mirror>/<file name> for every file)")
    if offline_reason():
        lines.append(f"fetching is off: {offline_reason()}")
    return lines


def _fetch_metric(key: str, progress: bool) -> bool:
    found = obtain_weight(key, download=True, progress=progress)
    if isinstance(found, Unavailable):
        print(f"fetch: {WEIGHT_FILES[key].file_name}: {found}", file=sys.stderr)
        return False
    print(f"{WEIGHT_FILES[key].file_name}: {found}")
    return True


def _fetch_zoo(name: str, cache_dir: str | None) -> bool:
    from .models.checkpoints import resolve

    try:
        path, _ = resolve(name, cache_dir, download=True)
    except CheckpointError as error:
        print(f"fetch: {name}: {' '.join(str(error).split())}", file=sys.stderr)
        return False
    print(f"{name}: {path}")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddrm_lightning.fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"{', '.join(METRIC_GROUPS)}, or zoo names ({', '.join(ZOO)})")
    parser.add_argument("--list", action="store_true", help="show every file, whether it is cached, and its source")
    parser.add_argument("--cache-dir", default=None, help="zoo cache folder (default $DDRM_LIGHTNING_CACHE or "
                                                         "~/.cache/ddrm_lightning)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in METRIC_GROUPS and n not in ZOO]
    if unknown or not (args.names or args.list):
        allowed = ", ".join([*METRIC_GROUPS, *ZOO])
        what = f"unknown name(s) {', '.join(unknown)}" if unknown else "nothing to fetch"
        print(f"fetch: error: {what}; allowed: {allowed} (or --list)", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join(listing(args.cache_dir)))
    if not args.names:
        return 0
    offline = offline_reason()
    if offline:
        print(f"fetch: error: not fetching anything: {offline}", file=sys.stderr)
        return 1
    try:
        mirror_url("https://x/", "x")
    except ValueError as error:
        print(f"fetch: error: {error}", file=sys.stderr)
        return 2
    keys = list(dict.fromkeys(k for n in args.names if n in METRIC_GROUPS for k in METRIC_GROUPS[n]))
    zoo = list(dict.fromkeys(z for n in args.names if n in ZOO for z in (n, ZOO[n].classifier) if z))
    results = [_fetch_metric(k, not args.quiet) for k in keys] + [_fetch_zoo(z, args.cache_dir) for z in zoo]
    return 0 if all(results) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
