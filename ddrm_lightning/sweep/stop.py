"""Stopping a sweep on SIGINT/SIGTERM at the next sampler step, with what is done kept."""

from __future__ import annotations

import signal
import sys
import threading

from lightning.pytorch import Callback

from ..restoration.core import listen_to_steps, stop_listening


class SweepInterrupted(Exception):
    """SIGINT/SIGTERM arrived; the sweep stopped after writing the batch in progress."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class GracefulStop(Callback):
    """Turns SIGINT/SIGTERM into a stop at the next sampler step or batch end.

    The handler only sets a flag (Lightning's predict loop does not look at
    ``trainer.should_stop``); the sampler's next step (one large photo can take hours) or the
    end of a batch, after the writer has taken it, raises ``SweepInterrupted``, so the writer
    flushes and merges what is done; an image stopped between steps has no row and is
    restored again on resume. A second SIGINT stops at once (KeyboardInterrupt).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        print(
            f"\nrestore.py: {signal.Signals(signum).name} received: stopping at the next sampler step "
            "(Ctrl-C again stops at once)",
            file=sys.stderr, flush=True,
        )

    def on_predict_start(self, trainer, pl_module) -> None:
        listen_to_steps(self._after_step)

    def on_predict_end(self, trainer, pl_module) -> None:
        stop_listening(self._after_step)

    def on_exception(self, trainer, pl_module, exception) -> None:
        stop_listening(self._after_step)

    def _after_step(self, step: int, total: int) -> None:
        self.between_steps()

    def between_steps(self) -> None:
        if self.signum is not None:
            raise SweepInterrupted(self.signum)

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.between_steps()
