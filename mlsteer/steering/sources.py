"""Steering files as evaluations use them: a file or a per-language folder, checked against the
model, optionally one layer of it, optionally turned into a control (negated or random)."""

from __future__ import annotations

import os
from pathlib import Path

from mlsteer.errors import MlsteerError
from mlsteer.layout import language_file
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering.files import load_steering
from mlsteer.steering.vector import Steering

CONTROLS: tuple[str, ...] = ("", "negated", "random")


def vector_path(source: str | os.PathLike, lang: str | None) -> Path:
    """``source`` itself, or ``source/{lang}.safetensors`` when ``source`` is a folder of
    per-language files (then ``lang`` is required)."""
    source = Path(source)
    if not source.is_dir():
        return source
    if not lang:
        raise MlsteerError(
            f"{source} is a folder of per-language vectors; name the language (lang=sw / --lang sw)"
        )
    path = language_file(source, lang)
    if not path.is_file():
        have = sorted(p.stem for p in source.glob("*.safetensors"))
        raise MlsteerError(
            f"vector folder {source} has no {lang}.safetensors; it has: {', '.join(have) or 'none'}"
        )
    return path


def load_for_model(
    model: SteerableModel,
    source: str | os.PathLike,
    lang: str | None = None,
    control: str = "",
    seed: int = 0,
    layer: int | None = None,
) -> tuple[Path, list[Steering]]:
    """The file used for ``lang`` and its entries, checked to fit ``model`` (errors before any
    scoring), restricted to ``layer`` if given, and as ``control``: ``""`` the vectors themselves,
    ``negated`` pointing the other way, ``random`` random directions of the same norms (entry i
    seeded ``seed + i``)."""
    path, items = checked_entries(model, source, lang, layer)
    return path, with_control(items, control, seed)


def checked_entries(
    model: SteerableModel,
    source: str | os.PathLike,
    lang: str | None = None,
    layer: int | None = None,
) -> tuple[Path, list[Steering]]:
    """The file used for ``lang`` and its entries as stored (only ``layer``'s if given), checked
    to fit ``model``."""
    path = vector_path(source, lang)
    items = load_steering(path)
    if layer is not None:  # one entry of a multi-layer file (layer sweeps)
        have = ", ".join(str(item.layer) for item in items)
        items = [item for item in items if item.layer == layer]
        if not items:
            raise MlsteerError(f"{path} has no entry for layer {layer}; it has layers {have}")
    for item in items:
        item.check_compatible(model)  # another model's vector: refused before anything runs
    return path, items


def with_control(items: list[Steering], control: str = "", seed: int = 0) -> list[Steering]:
    """``items`` themselves, negated, or random directions of the same size (entry i seeded ``seed + i``)."""
    if control not in CONTROLS:
        raise MlsteerError(f"unknown control {control!r}; use negated or random (or none)")
    if control == "negated":
        return [item.negated() for item in items]
    if control == "random":
        return [item.random_like(seed + index) for index, item in enumerate(items)]
    return items
