"""What every pipeline needs besides its own settings, passed as one object: the model, where
the data comes from and how much of it, the seed, where the outputs go, and whether to show
progress. Commands and the experiment runner build one and hand it over whole."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlsteer.models.wrapper import SteerableModel


@dataclass(frozen=True)
class RunContext:
    """``corpus`` / ``n_pairs``: the parallel corpus vectors (and analyses) sample from, and how
    many pairs (texts) per language; ``limit``: task items per language and split (None: all);
    ``out``: the folder the pipeline writes (see :mod:`mlsteer.layout` for what goes in it)."""

    model: SteerableModel
    out: Path
    corpus: str = "tatoeba"
    data_dir: Path | None = None
    n_pairs: int | None = 200
    limit: int | None = None
    seed: int = 0
    batch_size: int = 8
    progress: bool = True

    def with_out(self, out: str | os.PathLike, **changes: Any) -> RunContext:
        """The same context writing to ``out`` (and any other field changed)."""
        return replace(self, out=Path(out), **changes)

    def evaluation(self) -> dict[str, Any]:
        """The keyword arguments :func:`mlsteer.evaluation.runner.evaluate` takes from here."""
        return {
            "limit": self.limit,
            "data_dir": self.data_dir,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "progress": self.progress,
        }
