"""Errors raised for bad user input: each message names the problem and the fix."""

from __future__ import annotations


class MlsteerError(ValueError):
    """Base class for every input error mlsteer raises on purpose."""


class UnknownModelError(MlsteerError):
    """A model name that is neither built in, a local directory, nor a Hub id."""


class LayerOutOfRangeError(MlsteerError):
    """A layer index outside ``0..n_layers-1``."""


class IncompatibleVectorError(MlsteerError):
    """A steering vector learned on another model (d_model or fingerprint differs)."""


class InvalidVectorError(MlsteerError):
    """A steering vector with NaN or inf entries, or of the wrong shape."""


class EmptyInputError(MlsteerError):
    """An empty text list, or a text with nothing in it."""


class InvalidOptionError(MlsteerError):
    """A value outside a fixed set of choices (pooling, positions, scale...)."""


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``; otherwise raise naming the valid ones."""
    if value not in choices:
        raise InvalidOptionError(f"unknown {option} {value!r}; use one of: {', '.join(choices)}")
    return value
