"""One file format for vectors, maps and multi-layer sets of them.

``.safetensors`` holding tensors ``{i}.vector`` or ``{i}.matrix``/``{i}.bias`` for entry ``i``,
with a JSON header listing each entry's fields. Never pickle: a file is data, not code.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from mlsteer.errors import MlsteerError
from mlsteer.steering.vector import Steering, SteeringMap, SteeringVector

FORMAT = "mlsteer.steering/1"
_TENSOR_FIELDS = {SteeringVector: ("vector",), SteeringMap: ("matrix", "bias")}
_KINDS = {"vector": SteeringVector, "map": SteeringMap}


def save_steering(path: str | os.PathLike, items: list[Steering]) -> Path:
    """Write vectors and/or maps (one per layer for a multi-layer set) to ``path``."""
    if not items:
        raise MlsteerError("nothing to save; pass at least one vector or map")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors, entries = {}, []
    for index, item in enumerate(items):
        kind = "vector" if isinstance(item, SteeringVector) else "map"
        fields = {k: v for k, v in asdict(item).items() if k not in _TENSOR_FIELDS[type(item)]}
        fields.update(kind=kind, d_model=item.d_model, hook_name=item.hook_name)
        if kind == "vector":
            fields["norm"] = item.norm
        entries.append(fields)
        for name in _TENSOR_FIELDS[type(item)]:
            tensors[f"{index}.{name}"] = getattr(item, name)
    header = {"format": FORMAT, "entries": json.dumps(entries, default=str)}
    tmp = path.with_name(path.name + ".partial")
    save_file(tensors, str(tmp), metadata=header)
    os.replace(tmp, path)  # a killed save never leaves a truncated file under the real name
    return path


def load_steering(path: str | os.PathLike) -> list[Steering]:
    """Read every entry of a file written by :func:`save_steering`."""
    if not Path(path).is_file():
        raise MlsteerError(f"no vector file at {path}; check the path (learn one with mlsteer learn)")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
        if header.get("format") != FORMAT:
            raise MlsteerError(f"{path} is not an mlsteer vector file (no {FORMAT} header)")
        items: list[Steering] = []
        for index, fields in enumerate(json.loads(header["entries"])):
            cls = _KINDS[fields.pop("kind")]
            for derived in ("d_model", "norm", "hook_name"):
                fields.pop(derived, None)
            tensors = {name: handle.get_tensor(f"{index}.{name}") for name in _TENSOR_FIELDS[cls]}
            items.append(cls(**tensors, **fields))
    return items


def load_one(path: str | os.PathLike, cls: type) -> Steering:
    """The single entry of a file, checked to be a ``cls``."""
    items = load_steering(path)
    if len(items) != 1 or not isinstance(items[0], cls):
        kinds = ", ".join(f"{type(i).__name__}@layer{i.layer}" for i in items)
        raise MlsteerError(
            f"{path} holds {len(items)} entries ({kinds}), not one {cls.__name__}; "
            "use mlsteer.steering.load_steering for multi-layer files"
        )
    return items[0]
