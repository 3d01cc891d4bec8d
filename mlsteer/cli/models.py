"""Loading a model for a command (after its arguments were checked), under torchrun or not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlsteer.cli.options import DataSpec, ModelSpec
from mlsteer.errors import MlsteerError

if TYPE_CHECKING:
    from pathlib import Path

    from mlsteer.models import SteerableModel
    from mlsteer.pipeline.context import RunContext


def one_process() -> None:
    """Refuse to run under torchrun: every rank would write the same files."""
    from mlsteer import distributed

    if distributed.launched():
        raise MlsteerError(
            "this command runs in one process; start it without torchrun "
            "(data-parallel commands: mlsteer eval, mlsteer run)"
        )


def load(spec: ModelSpec, data_parallel: bool = False, name: str | None = None) -> SteerableModel:
    """Load ``spec``'s model (or ``name`` on its device and dtype). Commands that split their work
    across ranks (``data_parallel``: eval, run) join the process group first and take their GPU;
    the others refuse torchrun, since every rank would write the same files."""
    from mlsteer import distributed, models
    from mlsteer.models.devices import resolve_device

    spec.check()
    if not data_parallel:
        one_process()
    resolved = resolve_device(spec.device, distributed.local_rank())
    distributed.init(resolved)
    with distributed.main_first():  # the first load may convert and cache the embedded model
        return models.load_model(name or spec.name, device=resolved, dtype=spec.dtype)


def context(
    model: ModelSpec | SteerableModel, data: DataSpec, out: Path, **fields: Any
) -> RunContext:
    """The pipeline context of a command: its model (loaded from the spec unless given loaded),
    its data folder and seed, its output folder, and any other ``fields`` (corpus, n_pairs...)."""
    from mlsteer.pipeline.context import RunContext

    loaded = load(model) if isinstance(model, ModelSpec) else model
    return RunContext(loaded, out, data_dir=data.data_dir, seed=data.seed, **fields)
