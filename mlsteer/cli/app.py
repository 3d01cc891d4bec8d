"""Typer app: ``mlsteer run | info | cache | generate | learn | eval | sft | similarity | lens | wendler | pca | sweep | transfer | pivot | table | report | demo | harness``.

Commands live by area (:mod:`~mlsteer.cli.learn`, :mod:`~mlsteer.cli.evaluate`,
:mod:`~mlsteer.cli.analyses`, :mod:`~mlsteer.cli.run`, :mod:`~mlsteer.cli.harness`); each body
runs inside :func:`~mlsteer.cli.errors.cli_errors`, checks its arguments before loading a model,
and imports torch only then, so ``mlsteer --help`` returns at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import typer

from mlsteer.cli import analyses, evaluate, learn, run
from mlsteer.cli.errors import DEBUG_ENV, cli_errors, console, debug_option
from mlsteer.cli.harness import CONTEXT as HARNESS_CONTEXT
from mlsteer.cli.harness import harness
from mlsteer.cli.options import bundled

# Old spellings that keep working, hidden from --help (click normalises option names with this).
ALIASES = {"lang": "langs", "targets": "langs", "output": "out", "layer": "layers"}


def _normalize(name: str) -> str:
    return ALIASES.get(name, name)


app = typer.Typer(
    help="Steering vectors for multilingual LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"token_normalize_func": _normalize},
)


@app.callback()
def main_options(
    debug: bool = typer.Option(
        False,
        "--debug",
        envvar=DEBUG_ENV,
        help="Show the traceback of an error instead of one line.",
    ),
) -> None:
    """Steering vectors for multilingual LLMs."""
    debug_option(debug)


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its bundled options expanded and its body inside :func:`cli_errors`."""
    command = bundled(func)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with cli_errors():
            return command(*args, **kwargs)

    return wrapper


COMMANDS: dict[str, Callable[..., Any]] = {
    "info": run.info,
    "cache": learn.cache,
    "generate": learn.generate,
    "learn": learn.learn,
    "eval": evaluate.evaluate_command,
    "sft": learn.sft,
    "similarity": analyses.similarity,
    "lens": analyses.lens,
    "wendler": analyses.wendler,
    "pca": analyses.pca,
    "sweep": evaluate.sweep,
    "transfer": evaluate.transfer,
    "pivot": evaluate.pivot,
    "table": evaluate.table,
    "run": run.run_command,
    "demo": learn.demo,
    "report": run.report,
}
for _name, _func in COMMANDS.items():
    app.command(_name)(guarded(_func))
app.command("harness", context_settings=HARNESS_CONTEXT)(guarded(harness))

__all__ = ["app", "console"]
