"""Why a file PyTorch cannot load is no usable checkpoint, said in one line without torch's internals.

torch's own errors speak of ``weights_only``, pickle opcodes and miniz; a user who passed
the wrong file (or a download that stopped) needs to hear what the file is and what to give
instead, so the file is looked at directly.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

ACCEPTED = ("accepted: a published checkpoint (a zoo file such as celeba_hq.ckpt or 256x256_diffusion.pt), "
            "a network written by save_network, or a train.py checkpoint (.ckpt)")

# torch.save's legacy (pre-zip) format starts with this pickled number.
_LEGACY_HEAD = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)
_ZIP_HEAD = b"PK\x03\x04"
_HEAD_BYTES = 512


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(_HEAD_BYTES)


def _is_torch_archive(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("data.pkl") for name in archive.namelist())


def _looks_like_text(head: bytes) -> bool:
    # Up to 3 bytes dropped: the head may end inside a multi-byte character.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and all(c.isprintable() or c in "\t\r\n" for c in text)
    return False


def looks_intact(path: Path) -> bool:
    """Whether ``path`` is laid out like a complete torch.save file (its contents may still be unloadable)."""
    try:
        head = _head(path)
        if head.startswith(_ZIP_HEAD):
            return zipfile.is_zipfile(path) and _is_torch_archive(path)
        return head.startswith(_LEGACY_HEAD)
    except (OSError, zipfile.BadZipFile):
        return False


def diagnose(path: Path) -> tuple[str, bool]:
    """What is wrong with ``path`` (a clause such as "it is empty (0 bytes)") and whether it is damaged
    (so fetching it again helps) rather than a file of another kind."""
    try:
        size = path.stat().st_size
        head = _head(path)
    except OSError as err:
        return f"it cannot be read ({err.strerror or err})", False
    if size == 0:
        return "it is empty (0 bytes): a download or copy that stopped at once", True
    if head.startswith(_ZIP_HEAD):
        if not zipfile.is_zipfile(path):
            return f"it is truncated: a PyTorch archive whose end is missing ({size} bytes)", True
        try:
            torch_archive = _is_torch_archive(path)
        except (OSError, zipfile.BadZipFile):
            return "it is a damaged zip archive", True
        if not torch_archive:
            return "it is a zip archive but not a PyTorch one (unsupported format)", False
        return "its PyTorch archive is damaged (truncated or altered)", True
    if head.startswith(_LEGACY_HEAD):
        return "it is a PyTorch file in the legacy format that is truncated or damaged", True
    if len(head) > 1 and head[0] == 0x80 and 2 <= head[1] <= 5:  # a pickle's protocol opcode
        return "it is a plain Python pickle, not a torch.save file (unsupported format)", False
    if len(head) > 10 and head[8:10] == b'{"':
        return "it is a safetensors file, a format this package does not read (unsupported format)", False
    if _looks_like_text(head):
        lowered = head.lower()
        if b"<html" in lowered or b"<!doctype" in lowered:
            return "it is an HTML page (perhaps a download that saved an error page)", True
        return "it is a text file", False
    return "its content is in no format PyTorch writes (unsupported format)", False


def unreadable_message(path: Path) -> str:
    """The one-line error for a file torch could not load: the file, what is wrong, what to do, what is accepted."""
    what, damaged = diagnose(path)
    advice = "delete it and download or copy it again; " if damaged else ""
    return f"{path} is not a readable checkpoint: {what}; {advice}{ACCEPTED}"
