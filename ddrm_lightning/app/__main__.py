"""``python -m ddrm_lightning.app``: the page on 127.0.0.1 (``pip install -e ".[app]"`` installs Gradio)."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ddrm_lightning.app",
        description="A local web page for restoring your own photos: upload, choose the job, watch it restore, "
                    "compare, download. Served on 127.0.0.1 only.")
    parser.add_argument("--port", type=int, default=None,
                        help="port on 127.0.0.1 (default: the first free one from 7860)")
    parser.add_argument("--prior", default="embedded",
                        help="the prior: embedded (default), a zoo name or a checkpoint file, as restore.py takes")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where to restore (auto: the GPU when there is one)")
    parser.add_argument("--share", action="store_true",
                        help="also publish the page through a public Gradio link (off unless given)")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('ddrm_lightning.app: error: Gradio is not installed; install the app extra: pip install -e ".[app]"',
              file=sys.stderr)
        return 2
    from .server import AppServer

    try:
        server = AppServer(args.prior, port=args.port, share=args.share, device=args.device).start()
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"ddrm_lightning.app: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # through the finally below: the temporary folder goes
    print(f"ddrm-lightning app: open {server.url} in your browser (Ctrl-C stops it)", flush=True)
    print(f"ddrm-lightning app: uploads and restorations are kept in {server.workdir} until it stops", flush=True)
    if server.share_url:
        print(f"ddrm-lightning app: public link {server.share_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nddrm-lightning app: stopped; its temporary files are removed", flush=True)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:  # also on SIGTERM's exit: no last collection of gradio's and torch's objects (seconds)
        gc.freeze()
