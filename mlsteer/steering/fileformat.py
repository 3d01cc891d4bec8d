"""The vector file format, below the classes that use it (so :mod:`.vector` and :mod:`.files`
share it without importing each other).

A ``.safetensors`` file holds tensors ``{i}.{name}`` for entry ``i`` and a JSON header
``{"format": FORMAT, "entries": "[...]"}`` listing each entry's fields. Never pickle: a file is
data, not code. Each entry also records its width, its tensors' SHA-256 and (vectors) its norm,
and reading checks all three, so a truncated or damaged file is refused by name instead of
steering with garbage.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from mlsteer.errors import MlsteerError
from mlsteer.io import atomic_path, corrupt

FORMAT = "mlsteer.steering/1"
TENSORS: dict[str, tuple[str, ...]] = {
    "vector": ("vector",),
    "map": ("matrix", "bias"),
}  # kind -> tensor names
_CHECKS = (
    "kind",
    "d_model",
    "sha256",
    "norm",
)  # written to check the file, not fields of the entry
# Stored and recomputed norms are float32 sums of the same numbers; only the summation order may
# differ (another torch build or thread count): a relative error of a few eps * log2(d_model), far
# below 1e-3, while a damaged exponent or leading mantissa byte moves the norm by far more.
NORM_RTOL = 1e-3


@dataclass(frozen=True)
class Entry:
    """One vector or map as stored: its kind, its non-tensor fields, its tensors by name."""

    kind: str
    fields: dict[str, Any]
    tensors: dict[str, Tensor]


def digest(tensors: Sequence[Tensor]) -> str:
    """SHA-256 of the tensors' bytes, in order (any dtype: the bytes are read as uint8)."""
    hasher = hashlib.sha256()
    for tensor in tensors:
        hasher.update(
            tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return hasher.hexdigest()


def write_entries(path: str | os.PathLike, entries: Sequence[Entry]) -> Path:
    """Write ``entries`` to ``path`` whole or not at all (a killed save leaves no truncated file)."""
    if not entries:
        raise MlsteerError("nothing to save; pass at least one vector or map")
    tensors, records = {}, []
    for index, entry in enumerate(entries):
        named = [entry.tensors[name] for name in TENSORS[entry.kind]]
        record = {
            **entry.fields,
            "kind": entry.kind,
            "d_model": int(named[-1].shape[-1]),
            "sha256": digest(named),
        }
        if entry.kind == "vector":
            record["norm"] = float(named[0].norm())
        records.append(record)
        tensors.update(
            {f"{index}.{name}": tensor for name, tensor in zip(TENSORS[entry.kind], named)}
        )
    header = {"format": FORMAT, "entries": json.dumps(records, default=str)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    return Path(path)


def read_entries(path: str | os.PathLike) -> list[Entry]:
    """Every entry of a file written by :func:`write_entries`, checked: a missing file, a file that
    is not safetensors (pickle, truncated), a foreign header, no entries, missing or extra
    tensors, or tensors that differ from what was written raise naming the file."""
    path = Path(path)
    if not path.is_file():
        raise MlsteerError(
            f"no vector file at {path}; check the path (learn one with mlsteer learn)"
        )
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            if header.get("format") != FORMAT:
                raise MlsteerError(
                    f"{path} is not an mlsteer vector file (no {FORMAT} header); "
                    "pass a file written by mlsteer learn or save_steering"
                )
            records = _records(path, header)
            _check_tensor_names(path, records, set(handle.keys()))
            entries = [
                _entry(
                    path,
                    index,
                    record,
                    {
                        name: handle.get_tensor(f"{index}.{name}")
                        for name in TENSORS[record["kind"]]
                    },
                )
                for index, record in enumerate(records)
            ]
    except SafetensorError as error:  # pickle renamed, truncated, unreadable header
        raise corrupt(path, f"not a readable .safetensors file: {error}") from None
    except OSError as error:
        raise MlsteerError(
            f"cannot read {path} ({error.strerror or error}); check that it is a readable file"
        ) from None
    return entries


def _records(path: Path, header: dict[str, str]) -> list[dict[str, Any]]:
    """The header's entry list, checked for shape: a non-empty JSON list of objects of known kinds."""
    extra = sorted(set(header) - {"format", "entries"})
    if extra:
        raise corrupt(path, f"unexpected header key(s) {', '.join(extra)}")
    try:
        records = json.loads(header["entries"])
    except KeyError:
        raise corrupt(path, "the header has no entries") from None
    except json.JSONDecodeError as error:
        raise corrupt(path, f"the header's entries are not JSON: {error.msg}") from None
    if not isinstance(records, list) or not records:
        raise corrupt(path, "the header lists no entries: it would steer nothing")
    for index, record in enumerate(records):
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("kind"), str)
            or record["kind"] not in TENSORS
        ):
            kind = record.get("kind") if isinstance(record, dict) else type(record).__name__
            raise corrupt(path, f"entry {index} has kind {kind!r}, not one of {', '.join(TENSORS)}")
    return records


def _check_tensor_names(path: Path, records: list[dict[str, Any]], present: set[str]) -> None:
    wanted = {
        f"{index}.{name}"
        for index, record in enumerate(records)
        for name in TENSORS[record["kind"]]
    }
    if wanted != present:
        missing, extra = sorted(wanted - present), sorted(present - wanted)
        raise corrupt(
            path,
            "; ".join(
                filter(
                    None,
                    (
                        missing and f"tensor(s) {', '.join(missing)} missing",
                        extra and f"unexpected tensor(s) {', '.join(extra)}",
                    ),
                )
            ),
        )


def _entry(path: Path, index: int, record: dict[str, Any], tensors: dict[str, Tensor]) -> Entry:
    """The entry, once its tensors match the width, checksum and norm its header recorded."""
    kind, named = record["kind"], list(tensors.values())
    if "d_model" in record and (record["d_model"],) != tuple(named[-1].shape)[-1:]:
        raise corrupt(
            path,
            f"entry {index} says d_model {record['d_model']} but holds {tuple(named[-1].shape)}",
        )
    if "sha256" in record and record["sha256"] != digest(named):
        raise corrupt(path, f"entry {index}'s tensor data does not match its checksum")
    if (
        kind == "vector" and "norm" in record
    ):  # files written before checksums: the norm still catches most damage
        stored, actual = record["norm"], float(named[0].float().norm())
        if not (
            isinstance(stored, int | float) and math.isclose(stored, actual, rel_tol=NORM_RTOL)
        ):
            raise corrupt(
                path, f"entry {index}'s vector has norm {actual:.6g} but the header says {stored!r}"
            )
    return Entry(kind, {k: v for k, v in record.items() if k not in _CHECKS}, tensors)
