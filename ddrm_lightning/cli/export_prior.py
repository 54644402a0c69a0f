"""``python -m ddrm_lightning.cli.export_prior SRC DST``: a prior (a training checkpoint, an export or a name)
written as the package's network file, optionally in float16 and declaring another native size — how a
checkpoint of ``train.py`` becomes a shippable prior file without training on."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..models import load_model, save_network
from ..models.errors import CheckpointError, ConfigError
from ..models.export import with_native_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddrm_lightning.cli.export_prior", description=__doc__)
    parser.add_argument("src", help="a .ckpt of train.py, a prior file, or a prior's name")
    parser.add_argument("dst", type=Path, help="the file to write (refused if it exists, unless --overwrite)")
    parser.add_argument("--native_size", type=int, default=None,
                        help="declare this image size as the network's own (DDPM family; attention stays at the same levels)")
    parser.add_argument("--half", action="store_true", help="store the weights in float16 (half the file)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if args.dst.exists() and not args.overwrite:
        print(f"export_prior: error: {args.dst} exists; give --overwrite to replace it", file=sys.stderr)
        return 2
    try:
        loaded = load_model(args.src, download=False)
        config = loaded.config
        if args.native_size is not None:
            config = with_native_size(loaded.family, config, args.native_size)
        save_network(args.dst, loaded.network, loaded.family, config, loaded.betas, half=args.half)
    except (CheckpointError, ConfigError, OSError) as error:
        print(f"export_prior: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    print(f"{args.dst}: {loaded.family} network, image size {config.get('data', config)['image_size']}"
          f"{', float16' if args.half else ''}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
