"""One way the command line fails: :func:`cli_errors` turns every expected failure into one
line naming the problem and the fix, and exits with :data:`EXIT_ERROR`; ``mlsteer --debug``
shows the traceback instead. Unexpected errors (bugs) keep their traceback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

EXIT_ERROR = 2  # what every expected failure exits with (click's usage errors exit 2 too)
DEBUG_ENV = "MLSTEER_DEBUG"  # what --debug also reads
console = Console()  # stdout: tables and results
errors = Console(stderr=True)  # one-line failures and warnings


class _State:
    debug = False


state = _State()


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on one line and exit with :data:`EXIT_ERROR`."""
    line = " ".join(message.split())
    errors.print(f"[red]error:[/red] {escape(line)}", soft_wrap=True, highlight=False)
    raise typer.Exit(code=EXIT_ERROR) from None


def warn(message: str) -> None:
    errors.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True, highlight=False)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Run a command's body; an expected failure becomes one line (see :func:`explain`)."""
    try:
        yield
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:
        message = explain(error)
        if message is None or state.debug:
            raise
        fail(message)


def explain(error: BaseException) -> str | None:
    """One line for an expected failure; ``None`` for anything else (a bug: keep the traceback)."""
    import click

    from mlsteer.errors import MlsteerError

    if isinstance(error, click.ClickException):
        return None  # click prints usage errors itself
    if isinstance(error, MlsteerError):
        return str(error)
    first = _first_line(error)
    name = type(error).__name__
    if _is_offline(error):
        return (
            f"cannot reach the Hugging Face Hub ({first}); work offline: a local model folder, "
            "--data-dir FOLDER (or $MLSTEER_DATA) with the benchmark files, or --corpus builtin"
        )
    if _is_hub(error):
        return f"the Hugging Face Hub refused: {first}; check the model or dataset id, or use a local folder"
    if isinstance(error, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({first}); save it as UTF-8"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {first}; fix or regenerate the file"
    if isinstance(error, sqlite3.DatabaseError):
        return (
            f"a results store is not a readable SQLite database ({first}); "
            "move the damaged results.sqlite away and rerun (its rows are recomputed)"
        )
    if name == "SafetensorError":
        return f"not a readable .safetensors file ({first}); re-save or re-learn it"
    if name == "OutOfMemoryError":
        return (
            f"out of GPU memory ({first}); lower --batch-size, use --dtype bfloat16 or a larger GPU"
        )
    if isinstance(error, (RuntimeError, AssertionError)) and "CUDA" in str(error):
        return f"{first}; use --device cpu, or a machine whose torch sees a GPU"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or first}; check the path and its permissions"
    return None


NETWORK_MODULES = ("requests", "urllib3", "httpx", "httpcore", "huggingface_hub", "datasets")


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


def _is_offline(error: BaseException) -> bool:
    """No network, or offline mode (``HF_HUB_OFFLINE``) with nothing cached."""
    text = str(error).lower()
    if (
        isinstance(error, (ConnectionError, TimeoutError))
        or "offline" in text
        or "couldn't connect" in text
    ):
        return True
    network = type(error).__module__.split(".")[0] in NETWORK_MODULES
    return network and any(
        word in type(error).__name__ for word in ("Connect", "Timeout", "Offline")
    )


def _is_hub(error: BaseException) -> bool:
    """Any other failure of the Hub: an unknown id, a gated or private repo."""
    network = type(error).__module__.split(".")[0] in NETWORK_MODULES
    return network or (isinstance(error, OSError) and "huggingface.co" in str(error))


def debug_option(debug: bool) -> None:
    """The app's ``--debug``: tracebacks instead of one-line errors."""
    state.debug = debug
