"""Steering files as evaluations use them: a file or a per-language folder, checked against the
model, optionally one layer of it, optionally turned into a control (negated or random)."""

from __future__ import annotations

import os
from pathlib import Path

from mlsteer.errors import MlsteerError
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
        raise MlsteerError(f"{source} is a folder of per-language vectors; name the language (lang=sw / --lang sw)")
    path = source / f"{lang}.safetensors"
    if not path.is_file():
        have = sorted(p.stem for p in source.glob("*.safetensors"))
        raise MlsteerError(f"vector folder {source} has no {lang}.safetensors; it has: {', '.join(have) or 'none'}")
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
    if control not in CONTROLS:
        raise MlsteerError(f"unknown control {control!r}; use negated or random (or none)")
    path = vector_path(source, lang)
    items = load_steering(path)
    if layer is not None:  # one entry of a multi-layer file (layer sweeps)
        items = [item for item in items if item.layer == layer]
        if not items:
            have = ", ".join(str(item.layer) for item in load_steering(path))
            raise MlsteerError(f"{path} has no entry for layer {layer}; it has layers {have}")
    for item in items:
        item.check_compatible(model)  # another model's vector: refused before anything runs
    if control == "negated":
        items = [item.negated() for item in items]
    elif control == "random":
        items = [item.random_like(seed + index) for index, item in enumerate(items)]
    return path, items
