"""Finding pretrained weight files on disk, never downloading them.

Weights are looked up in exactly one place: the path the user gave, or, when
none was given, the torch hub cache (``torch.hub.get_dir()/checkpoints``, i.e.
``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``),
which is where torchvision and torch-fidelity store what they download.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from .availability import Unavailable


def hub_checkpoint_dir() -> Path:
    """The folder torch hub downloads checkpoints into (and loads them from)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_weights(
    filenames: Sequence[str],
    location: str | Path | None,
    what: str,
    *,
    accept_any_file: bool = True,
) -> Path | Unavailable:
    """The weight file for ``what``, or ``Unavailable`` saying where it was looked for.

    Args:
        filenames: the accepted file names, in order of preference.
        location: a file, or a folder holding one of ``filenames`` directly or in its
            ``checkpoints/`` subfolder (a torch hub folder); None means the hub cache.
        what: the network's name, for the reason string.
        accept_any_file: when ``location`` is a file, use it whatever its name. When
            False (one location serves several networks) a file whose name is not one
            of ``filenames`` stands for the folder it is in.
    """
    if location is None:
        folders = [hub_checkpoint_dir()]
    else:
        path = Path(location).expanduser()
        if path.is_file():
            if accept_any_file or path.name in filenames:
                return path
            folders = [path.parent]
        elif path.is_dir():
            folders = [path, path / "checkpoints"]
        else:
            return Unavailable(f"{what} weights path {path} does not exist")
    for folder in folders:
        for name in filenames:
            if (folder / name).is_file():
                return folder / name
    return Unavailable(
        f"{what} weights not found: no {' or '.join(filenames)} in {' or '.join(str(f) for f in folders)}"
    )
