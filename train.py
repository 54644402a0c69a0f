"""Fine-tune or train a diffusion prior: python train.py --config configs/train/<name>.yaml [--trainer.devices 4]."""

import gc
import os
import signal
import sys


def _interrupted_while_loading(signum, frame):
    # Nothing is started yet; a KeyboardInterrupt here would print a traceback, or be swallowed by
    # a library's import-time probe.
    print("train.py: interrupted during start-up", file=sys.stderr, flush=True)
    os._exit(128 + signum)


if __name__ == "__main__":
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_loading)
        from ddrm_lightning.cli.train import main

        signal.signal(signal.SIGINT, signal.default_int_handler)
    else:
        from ddrm_lightning.cli.train import main
    code = main()
    # At exit Python would garbage-collect the half-million objects torch and Lightning made: seconds
    # (more on every DDP rank) after the results are written and closed. Leave them out of that walk.
    gc.freeze()
    sys.exit(code)
