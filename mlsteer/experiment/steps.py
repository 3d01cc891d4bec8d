"""The steps of ``mlsteer run``, by registration: a step is one function of the shared run state
plus ``@register_step``, saying when the config wants it and whether every rank runs it.

Steps run in registration order; the summary and report come after all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlsteer.errors import MlsteerError

StepFunction = Callable[[Any], None]  # takes the runner's shared state (runner.Run)


@dataclass(frozen=True)
class Step:
    """``wanted(config)``: whether the config asks for the step. ``every_rank``: under torchrun
    every rank runs it (the sweep and evaluation split their work); other steps run on rank 0."""

    name: str
    run: StepFunction
    wanted: Callable[[Any], bool]
    every_rank: bool = False


STEPS: dict[str, Step] = {}


def register_step(
    name: str, wanted: Callable[[Any], Any] = lambda config: True, every_rank: bool = False
) -> Callable[[StepFunction], StepFunction]:
    """Decorator: register the function as the run step ``name`` (returned unchanged)."""

    def register(function: StepFunction) -> StepFunction:
        known = STEPS.get(name)
        if known is not None and known.run.__qualname__ != function.__qualname__:
            raise MlsteerError(f"two run steps are registered as {name!r}")
        STEPS[name] = Step(name, function, lambda config: bool(wanted(config)), every_rank)
        return function

    return register


def wanted_steps(config: Any) -> list[Step]:
    """The registered steps ``config`` asks for, in order."""
    return [step for step in STEPS.values() if step.wanted(config)]
