"""Files of vectors and maps: one entry, or one per layer for a multi-layer set.

The format itself (``.safetensors`` with a JSON header, checked on read) is
:mod:`mlsteer.steering.fileformat`; this module turns its entries into
:class:`SteeringVector` / :class:`SteeringMap` objects and back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from mlsteer.errors import MlsteerError
from mlsteer.steering.fileformat import FORMAT, read_entries, write_entries
from mlsteer.steering.vector import Steering, SteeringMap, SteeringVector

__all__ = ["FORMAT", "load_one", "load_steering", "save_steering"]

_CLASSES = {cls.KIND: cls for cls in (SteeringVector, SteeringMap)}


def save_steering(path: str | os.PathLike, items: Sequence[Steering]) -> Path:
    """Write vectors and/or maps (one per layer for a multi-layer set) to ``path``, atomically."""
    if not items:
        raise MlsteerError("nothing to save; pass at least one vector or map")
    return write_entries(path, [item.entry() for item in items])


def load_steering(path: str | os.PathLike) -> list[Steering]:
    """Every entry of a file written by :func:`save_steering`; a damaged file raises
    ``corrupt file: PATH (...)`` (see :func:`mlsteer.steering.fileformat.read_entries`)."""
    return [
        _CLASSES[entry.kind].from_entry(entry, path, index)
        for index, entry in enumerate(read_entries(path))
    ]


def load_one(path: str | os.PathLike, cls: type) -> Steering:
    """The single entry of a file, checked to be a ``cls``."""
    return cls.load(path)
