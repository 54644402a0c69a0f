"""Start and stop the page's server: its temporary folder (uploads and outputs, removed on close), the
prior loaded once, the address on 127.0.0.1, and Gradio's launch with nothing that calls another address."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import torch

HOST = "127.0.0.1"


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda or auto, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: no CUDA GPU is available here; use --device cpu")
    return device


class AppServer:
    """The page served on ``HOST`` (``with AppServer(...) as server: server.url``)."""

    def __init__(self, prior: str = "embedded", *, port: int | None = None, share: bool = False,
                 device: str = "cpu") -> None:
        self.prior, self.port, self.share, self.device = prior, port, bool(share), resolve_device(device)
        self.workdir: Path | None = None
        self._previous_temp_dir: str | None = None
        self.blocks = None
        self.url: str | None = None
        self.share_url: str | None = None

    def start(self) -> AppServer:
        self.workdir = Path(tempfile.mkdtemp(prefix="ddrm-app-"))
        try:
            upload_dir = self.workdir / "uploads"
            upload_dir.mkdir()
            # Gradio keeps every upload and every file it serves in its cache folder: ours, removed on close.
            self._previous_temp_dir = os.environ.get("GRADIO_TEMP_DIR")
            os.environ["GRADIO_TEMP_DIR"] = str(upload_dir)
            from .page import build, theme
            from .restoring import PhotoRestorer

            restorer = PhotoRestorer(self.prior, workdir=self.workdir, device=self.device)
            self.blocks = build(restorer, upload_dir)
            _, self.url, self.share_url = self.blocks.launch(
                server_name=HOST, server_port=self.port, share=self.share, prevent_thread_lock=True, quiet=True,
                theme=theme(), ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False,
                footer_links=["api"], show_error=True,
            )
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self.blocks is not None:
            self.blocks.close()
            self.blocks = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            if self._previous_temp_dir is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = self._previous_temp_dir

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
