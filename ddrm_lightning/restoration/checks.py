"""Checks that need no image: the tasks' operators at the data's geometry, channels and labels."""

from __future__ import annotations

from ..operators import GeometryError, build_operator, check_image_measurement
from .task import Task


def check_tasks(tasks: list[Task], channels: int, image_size: tuple[int, int] | None, *,
                pad_multiple: int | None = None, measured: bool = False) -> None:
    """Build every task's operator once for the data's geometry, so a bad name or parameter
    (unknown operator, factor not dividing the size, color on gray) fails before any image
    is restored. ``image_size`` None (sizes vary) checks names only, unless ``pad_multiple``
    is given: padded sizes are multiples of it, so the operators are built at
    pad_multiple × pad_multiple. ``measured``: the images are measurements, so every operator's y
    must be an image."""
    if image_size is None and pad_multiple is not None:
        height, width = pad_multiple, pad_multiple
    else:
        height, width = image_size or (64, 64)
    exact = image_size is not None or pad_multiple is not None
    for task in tasks:
        try:
            if measured:
                check_image_measurement(task.operator)
            if measured and task.operator == "jpeg" and not {"quality", "tables"} & set(task.params):
                continue  # each JPEG file brings its own tables (Restorer.file_operator)
            build_operator(task.operator, channels, height, width, **task.params)
        except GeometryError as error:
            if image_size is None and pad_multiple is not None:
                raise ValueError(
                    f"task '{task.name}': {error}; with geometry pad every image is padded to a multiple of "
                    f"data.pad_multiple={pad_multiple}: set --data.pad_multiple to a multiple of the factor"
                ) from None
            if exact:
                raise ValueError(f"task '{task.name}': {error}") from None
            # Sizes vary and are unknown yet: a geometry problem is reported per image.
        except ValueError as error:
            raise ValueError(f"task '{task.name}': {error}") from None


def check_prior(loaded, checkpoint: str, tasks: list[Task], channels: int, image_size: tuple[int, int] | None, *,
                has_labels: bool, guided: str | None, pad_multiple: int | None = None, measured: bool = False) -> None:
    """Everything about the data a loaded prior must agree with: channels, the tasks' operators
    at the data's geometry, class labels for a class-conditional prior or classifier guidance
    (``guided``: the classifier's name when guidance is on)."""
    if channels != loaded.in_channels:
        raise ValueError(
            f"the checkpoint '{checkpoint}' restores {loaded.in_channels}-channel images but data.channels={channels}; "
            f"set --data.channels {loaded.in_channels}"
        )
    check_tasks(tasks, loaded.in_channels, image_size, pad_multiple=pad_multiple, measured=measured)
    needs_labels = []
    if loaded.num_classes:
        needs_labels.append(f"the checkpoint '{checkpoint}' is class-conditional ({loaded.num_classes} classes)")
    if guided:
        needs_labels.append(f"classifier guidance is on (--model.classifier {guided})")
    if needs_labels and not has_labels:
        raise ValueError(
            f"{' and '.join(needs_labels)}, so the images need class labels, but the data has none; "
            "use --data.source hf with --data.label_column <integer column>"
            + ("" if loaded.num_classes else ", or --model.classifier_scale 0")
        )
