"""Where mlsteer keeps converted models and where it looks for benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "MLSTEER_CACHE"
DATA_ENV = "MLSTEER_DATA"


def cache_dir() -> Path:
    """The cache folder: ``$MLSTEER_CACHE``, else ``~/.cache/mlsteer``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "mlsteer").expanduser()


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The benchmark data folder: ``explicit``, else ``$MLSTEER_DATA``, else ``None``."""
    value = explicit or os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None
