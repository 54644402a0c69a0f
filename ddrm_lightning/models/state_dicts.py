"""Reading checkpoint files and comparing their parameter names and shapes with the zoo architectures."""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .errors import CheckpointError, CorruptCheckpointError
from .unreadable import ACCEPTED, looks_intact, unreadable_message
from .zoo import ZOO, ZooEntry, zoo_signature

_SHOWN_KEYS = 3


def one_line(err: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}: {first[:200]}" if first else type(err).__name__


def read_checkpoint(path: Path, map_location: Any = "cpu", weights_only: bool = False) -> Any:
    """``torch.load`` with every failure turned into a one-line ``CheckpointError``.

    The safe tensors-only loader is tried first. A file it refuses because it
    holds other Python objects (typical of Lightning checkpoints) is unpickled
    fully unless ``weights_only`` is True: only load such files from sources you trust.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Said of any non-torch pickle by the tensors-only loader, which is only a first try here.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        holds_objects = "Unsupported global" in str(err)
        if holds_objects and weights_only:
            raise CheckpointError(f"{path} holds Python objects besides tensors and weights_only=True refuses them; "
                                  "pass weights_only=False if you trust the file") from None
        # The tensors-only loader refuses some valid files for other reasons than a global;
        # a file laid out like a complete torch.save file gets the full loader too.
        if not (holds_objects or (not weights_only and looks_intact(path))):
            raise CorruptCheckpointError(unreadable_message(path)) from None
    except Exception:  # torch reports damaged files with many exception types
        raise CorruptCheckpointError(unreadable_message(path)) from None
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except (ImportError, AttributeError) as err:
        if not looks_intact(path):
            raise CorruptCheckpointError(unreadable_message(path)) from None
        raise CorruptCheckpointError(
            f"{path} is not a readable checkpoint: it holds Python objects this installation cannot rebuild "
            f"({one_line(err)}); {ACCEPTED}"
        ) from None
    except Exception:
        raise CorruptCheckpointError(unreadable_message(path)) from None


def shapes_of(state_dict: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def as_state_dict(obj: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise CorruptCheckpointError(f"{where} does not hold a state dict (a mapping of parameter names to tensors)")
    state = dict(obj)
    # Saved from a DataParallel/DistributedDataParallel wrapper.
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def matching_entries(shapes: Mapping[str, tuple[int, ...]]) -> list[ZooEntry]:
    return [entry for name, entry in ZOO.items() if zoo_signature(name) == shapes]


def describe_difference(expected: Mapping[str, tuple[int, ...]], got: Mapping[str, tuple[int, ...]]) -> str:
    """A short description of how ``got`` differs from ``expected``."""

    def listed(keys: list[str]) -> str:
        more = f" (+{len(keys) - _SHOWN_KEYS} more)" if len(keys) > _SHOWN_KEYS else ""
        return ", ".join(keys[:_SHOWN_KEYS]) + more

    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    reshaped = [f"{k} {list(got[k])} vs {list(expected[k])}" for k in expected if k in got and got[k] != expected[k]]
    parts = [f"{label}: {listed(keys)}" for label, keys in
             (("missing", missing), ("unexpected", unexpected), ("shape differs", reshaped)) if keys]
    return "; ".join(parts) or "no difference"


def closest_entry(shapes: Mapping[str, tuple[int, ...]]) -> ZooEntry:
    def score(entry: ZooEntry) -> int:
        expected = zoo_signature(entry.name)
        return sum(expected.get(k) == shape for k, shape in shapes.items())

    return max(ZOO.values(), key=score)


def match_note(shapes: Mapping[str, tuple[int, ...]]) -> str:
    matches = matching_entries(shapes)
    return f" (the file matches zoo entry {', '.join(e.name for e in matches)})" if matches else ""
