"""Checks of a config's values before any model loads: each TOML value against its field's type,
and each learner option against what the learner takes (:meth:`RegisteredLearner.options`: its
keyword parameters, a config dataclass such as :class:`~mlsteer.learners.BipoConfig` standing for
its fields). Errors name
the key, what was given, and what is allowed."""

from __future__ import annotations

import difflib
import json
import math
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from mlsteer.errors import MlsteerError
from mlsteer.learners.registry import RegisteredLearner

_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    Path: "a path (a string)",
    list: "a list",
    dict: "a table",
}
_PLURALS = {str: "strings", int: "integers", float: "numbers", bool: "booleans"}


def fits(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a type hint (an integer is a number; a boolean is neither)."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if origin is list:
        return isinstance(value, list) and all(fits(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(
            fits(k, args[0]) and fits(v, args[1]) for k, v in value.items()
        )
    if hint is type(None):
        return value is None
    if hint in (int, float):
        return isinstance(value, int if hint is int else int | float) and not isinstance(
            value, bool
        )
    if hint is Path:
        return isinstance(value, str | Path)
    return isinstance(value, origin or hint)


def describe(hint: Any) -> str:
    """``list[int]`` -> ``a list of integers``, for messages."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args if arg is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in args)
    if origin is list:
        return "a list of " + _plural(args[0])
    if origin is dict:
        return "a table of " + _plural(args[1])
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    if get_origin(hint) is list:
        return "lists of " + _plural(get_args(hint)[0])
    return _PLURALS.get(hint, describe(hint))


def check_value(key: str, value: Any, hint: Any, where: str) -> None:
    """Raise naming ``key`` unless ``value`` fits ``hint``, with the fix when it is plain."""
    given = json.dumps(value, default=str)
    if not fits(value, hint):
        kind = "a boolean" if isinstance(value, bool) else describe(type(value))
        raise MlsteerError(
            f"{where}: {key} = {given} is {kind}; expected {describe(hint)}{_fix(key, value, hint)}"
        )
    if any(
        isinstance(v, float) and not math.isfinite(v)
        for v in (value if isinstance(value, list) else [value])
    ):
        raise MlsteerError(f"{where}: {key} = {given} is not finite; use finite numbers")


def _fix(key: str, value: Any, hint: Any) -> str:
    """``; write layers = [6]`` where the intent is clear (a scalar for a list, a quoted number)."""
    wanted = (
        [arg for arg in get_args(hint) if arg is not type(None)]
        if get_origin(hint) in (Union, types.UnionType)
        else [hint]
    )
    for target in wanted:
        element = get_args(target)[0] if get_origin(target) is list else None
        bare = _number(value) if isinstance(value, str) else value
        if element is not None and fits(bare, element):
            return f"; write {key} = [{json.dumps(bare)}]"
        if element is None and isinstance(value, str) and fits(bare, target):
            return f"; write {key} = {json.dumps(bare)} (no quotes)"
    return ""


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def check_table(
    raw: Mapping[str, Any], cls: type, where: str, skip: frozenset[str] = frozenset()
) -> None:
    """Check every value of a TOML table against the type of ``cls``'s field of that name."""
    hints = get_type_hints(cls)
    for key, value in raw.items():
        if key in hints and key not in skip:
            check_value(key, value, hints[key], where)


def check_learner_options(
    learner: RegisteredLearner, options: Mapping[str, Any], where: str
) -> None:
    """Raise on an option ``learner`` does not take (naming the close ones and all it takes) or a
    value of the wrong type."""
    allowed = {name: hint for name, (hint, _) in learner.options().items()}
    for key, value in options.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            takes = ", ".join(sorted(allowed)) or "none"
            raise MlsteerError(
                f"{where}: learner {learner.name!r} has no option {key!r}; {hint}its options: {takes}"
            )
        check_value(key, value, allowed[key], where)


def check_not_empty(where: str, **values: list | None) -> None:
    """Raise naming the first key given as an empty list (None: not given, the default applies)."""
    for key, value in values.items():
        if value is not None and not value:
            raise MlsteerError(
                f"{where}: {key} is empty; list at least one value (or leave the key out for the default)"
            )


def check_at_least(where: str, minimum: int, **values: int | list[int] | None) -> None:
    """Raise naming the first key whose value (or any value of its list) is below ``minimum``."""
    for key, value in values.items():
        low = [
            v
            for v in (value if isinstance(value, list) else [value])
            if v is not None and v < minimum
        ]
        if low:
            raise MlsteerError(f"{where}: {key} has {low[0]}; use {minimum} or more")
