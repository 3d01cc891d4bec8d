"""The local harness tasks: lm-evaluation-harness's XCOPA and XNLI prompts on the benchmark files
under ``$MLSTEER_DATA`` (no Hub), as ``xcopa_local_{lang}`` and ``xnli_local_{lang}``.

The YAMLs ship in ``mlsteer/integrations/harness_tasks/`` with a placeholder for the data folder;
:func:`task_folder` writes them out with the real path, for ``--include_path``. Needs no lm_eval.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from mlsteer.errors import MlsteerError
from mlsteer.paths import cache_dir
from mlsteer.paths import data_dir as resolve_data_dir

_PLACEHOLDER = "@MLSTEER_DATA@"


def task_folder(
    data: str | os.PathLike | None = None, out: str | os.PathLike | None = None
) -> Path:
    """A folder of the local task YAMLs with the data folder filled in, for ``--include_path``.

    ``data`` defaults to ``$MLSTEER_DATA``; ``out`` to a folder in mlsteer's cache named after
    the data folder (rewritten each call, so it always matches the installed YAMLs).
    """
    folder = resolve_data_dir(data)
    if folder is None:
        raise MlsteerError(
            "no benchmark folder for the local harness tasks; pass --data-dir or set $MLSTEER_DATA"
        )
    folder = folder.resolve()
    if not (folder / "xcopa").is_dir() and not (folder / "xnli").is_dir():
        raise MlsteerError(
            f"{folder} holds neither xcopa/ nor xnli/; point --data-dir / $MLSTEER_DATA at the benchmark folder"
        )
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    target = Path(out) if out is not None else cache_dir() / "harness_tasks" / digest
    target.mkdir(parents=True, exist_ok=True)
    source = files("mlsteer.integrations") / "harness_tasks"
    for entry in source.iterdir():
        if entry.name.endswith(".yaml"):
            (target / entry.name).write_text(
                entry.read_text(encoding="utf-8").replace(_PLACEHOLDER, str(folder)),
                encoding="utf-8",
            )
        elif entry.name.endswith(".py"):
            with entry.open("rb") as handle, (target / entry.name).open("wb") as copy:
                shutil.copyfileobj(handle, copy)
    return target


def local_task_names(kind: str, langs: Sequence[str]) -> list[str]:
    """``xcopa_local_sw`` ... for ``kind`` ``xcopa`` or ``xnli``."""
    return [f"{kind}_local_{lang}" for lang in langs]
