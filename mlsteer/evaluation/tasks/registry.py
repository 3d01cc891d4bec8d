"""The built-in tasks by name: each task module registers its class with ``@register_task``.

Adding a benchmark is one new module in :mod:`mlsteer.evaluation.tasks` with a decorated
:class:`~mlsteer.evaluation.tasks.base.Task` subclass; every module of the package is imported on
the first lookup, so nothing else has to list it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks.base import Task

T = TypeVar("T", bound=type[Task])

TASKS: dict[str, Task] = {}
_discovered = False


def register_task(cls: T) -> T:
    """Class decorator: register an instance of the task under its ``name``."""
    task = cls()
    known = TASKS.get(task.name)
    if known is not None and type(known) is not cls:
        raise MlsteerError(f"two tasks are registered as {task.name!r}")
    TASKS[task.name] = task
    return cls


def registered_tasks() -> dict[str, Task]:
    """Every registered task by name (the package's modules imported first)."""
    global _discovered
    if not _discovered:
        _discovered = True
        package = importlib.import_module("mlsteer.evaluation.tasks")
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    return TASKS
