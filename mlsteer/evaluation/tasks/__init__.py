"""The tasks by name: ``get_task("xnli")``, one module per benchmark, each registering itself
(:mod:`.registry`); or from a user's task file: ``get_task("mytask.yaml")``
(:mod:`mlsteer.evaluation.tasks.custom`)."""

from __future__ import annotations

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks.base import Example, Query, Task
from mlsteer.evaluation.tasks.cloze import Cloze
from mlsteer.evaluation.tasks.custom import is_task_file, load_task_file
from mlsteer.evaluation.tasks.m3exam import M3Exam
from mlsteer.evaluation.tasks.m_mmlu import MMMLU
from mlsteer.evaluation.tasks.mgsm import MGSM
from mlsteer.evaluation.tasks.registry import TASKS, register_task, registered_tasks
from mlsteer.evaluation.tasks.xcopa import XCOPA
from mlsteer.evaluation.tasks.xnli import XNLI


def get_task(name: str) -> Task:
    """The built-in task called ``name``, or the task a file defines; raises listing the known ones."""
    tasks = registered_tasks()
    if name in tasks:
        return tasks[name]
    if not is_task_file(name):
        raise MlsteerError(
            f"unknown task {name!r}; use one of: {', '.join(tasks)}, or a task file (.jsonl, .yaml)"
        )
    task = load_task_file(name)
    if task.name in tasks:
        raise MlsteerError(
            f"{name}: name {task.name!r} is a built-in task's; name your task otherwise (its results would mix)"
        )
    return task


__all__ = [
    "TASKS",
    "XCOPA",
    "XNLI",
    "MGSM",
    "MMMLU",
    "M3Exam",
    "Cloze",
    "Example",
    "Query",
    "Task",
    "get_task",
    "register_task",
]
