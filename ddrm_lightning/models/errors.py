"""Every error the model package raises on bad input or a bad checkpoint file.

All are ``ValueError`` subclasses, so callers that only care about "bad input"
can catch ``ValueError``; each message is one line that says what is wrong and
what to do.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A network configuration is malformed (unknown key, missing key, bad value)."""


class CheckpointError(ValueError):
    """Base class of every problem with a checkpoint file or zoo name."""


class UnknownCheckpointError(CheckpointError):
    """A name that is neither a checkpoint name (``embedded``, a zoo entry) nor an existing file."""


class CheckpointUnavailableError(CheckpointError):
    """A zoo checkpoint is not cached and cannot be downloaded (offline, refused, download disabled)."""


class ChecksumMismatchError(CheckpointError):
    """A downloaded file does not have the published checksum."""


class CorruptCheckpointError(CheckpointError):
    """A file that cannot be read as a checkpoint (truncated, not a torch file, unknown layout)."""


class ArchitectureMismatchError(CheckpointError):
    """A checkpoint whose parameter names or shapes do not fit the expected network."""
