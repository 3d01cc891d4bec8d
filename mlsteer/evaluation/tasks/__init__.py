"""The tasks by name: ``get_task("xnli")``; one module per benchmark."""

from __future__ import annotations

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks.base import Example, Query, Task
from mlsteer.evaluation.tasks.cloze import Cloze
from mlsteer.evaluation.tasks.m3exam import M3Exam
from mlsteer.evaluation.tasks.m_mmlu import MMMLU
from mlsteer.evaluation.tasks.mgsm import MGSM
from mlsteer.evaluation.tasks.xcopa import XCOPA
from mlsteer.evaluation.tasks.xnli import XNLI

TASKS: dict[str, Task] = {task.name: task for task in (XCOPA(), XNLI(), MGSM(), MMMLU(), M3Exam(), Cloze())}


def get_task(name: str) -> Task:
    """The task called ``name``; raises listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise MlsteerError(f"unknown task {name!r}; use one of: {', '.join(TASKS)}") from None


__all__ = ["TASKS", "Example", "Query", "Task", "get_task"]
