"""Fingerprints: what produced a cell of stored rows, so a rerun never mixes rows of two settings.

A cell is (model, task, language, method name). Its fingerprint is a flat JSON object: the run's
part (the model's config fingerprint and dtype, the split, limit and sample seed, a digest of the
evaluated items, the task's prompt version; see :func:`run_fingerprint`) and the method's part
(:meth:`mlsteer.evaluation.methods.Method.fingerprint`: the vector file's content sha256, alpha,
control...). The store keeps one per cell (:mod:`mlsteer.evaluation.store`); the runner resumes a
cell only when the fingerprint is the same, and otherwise names what changed
(:func:`describe_changes`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

Fingerprint = dict[str, Any]

# How a changed key reads in an error message ("vector file content changed (sha256 ab12… → cd34…)").
LABELS = {
    "kind": "method kind",
    "vector_sha256": "vector file content",
    "alpha": "alpha",
    "control": "control",
    "control_seed": "random control's seed",
    "layer": "layer",
    "positions": "positions",
    "scale": "scale",
    "k": "number of shots",
    "shot_seed": "few-shot seed",
    "shot_pool_sha256": "few-shot pool",
    "translator": "translator",
    "weights": "fine-tuned weights",
    "template_sha256": "XLT template",
    "method_version": "method version",
    "model": "model",
    "dtype": "dtype",
    "split": "split",
    "limit": "limit",
    "sample_seed": "sample seed",
    "items_sha256": "evaluated items",
    "prompt_version": "task prompt version",
}
_TAIL = 60  # characters of a long value kept in a message


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_json(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, no spaces; non-JSON values as text)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return sha256_bytes(text.encode("utf-8"))


def steering_sha256(items: Iterable[Any]) -> str:
    """sha256 of steering entries' content: every tensor's bytes and the other fields as
    canonical JSON, in entry order. Not the file's bytes: safetensors writes its header's keys in
    no fixed order, so rewriting the same vectors (a rerun exporting its chosen vectors) changes
    the bytes but not this."""
    digest = hashlib.sha256()
    for item in items:
        for name, value in sorted(vars(item).items()):
            if hasattr(value, "detach"):  # a tensor
                digest.update(name.encode() + value.detach().cpu().contiguous().numpy().tobytes())
            else:
                digest.update(
                    json.dumps([name, value], sort_keys=True, default=str).encode("utf-8")
                )
    return digest.hexdigest()


def folder_digest(folder: str | os.PathLike, sample: int = 1 << 20) -> str:
    """A cheap content digest of a folder (a fine-tuned model): for every file, its relative path,
    its size and the sha256 of its first and last ``sample`` bytes (all of it when smaller). Not
    fooled by a copy (no mtimes); a retrained model changes sizes or the sampled bytes (weights
    files start with their header and tensors)."""
    folder = Path(folder)
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        size = path.stat().st_size
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            digest.update(handle.read(sample))
            if size > 2 * sample:
                handle.seek(size - sample)
                digest.update(handle.read(sample))
            elif size > sample:
                digest.update(handle.read())
        entries.append((path.relative_to(folder).as_posix(), size, digest.hexdigest()))
    return sha256_json(entries)


def examples_digest(examples: Iterable[Any]) -> str:
    """sha256 of the items as evaluated: each id, text fields, gold and English twin's fields."""
    return sha256_json(
        [
            (
                e.id,
                dict(e.fields),
                e.gold,
                dict(e.english.fields) if getattr(e, "english", None) is not None else None,
            )
            for e in examples
        ]
    )


def run_fingerprint(
    model: Any, task: Any, split: str, limit: int | None, seed: int, examples: Sequence[Any]
) -> Fingerprint:
    """The part of every cell's fingerprint that the run decides (same for every method)."""
    dtype = getattr(model, "dtype", None)
    return {
        "model": getattr(model, "fingerprint", None) or getattr(model, "name", None),
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
        "split": split,
        "limit": limit,
        "sample_seed": seed if limit is not None else None,
        "items_sha256": examples_digest(examples),
        "prompt_version": str(getattr(task, "prompt_version", "1")),
    }


def _short(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:8] + "…"
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= _TAIL else text[:_TAIL] + "…"


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two fingerprints, one phrase per key, in a stable order."""
    out = []
    for key in sorted(
        set(old) | set(new),
        key=lambda k: (list(LABELS).index(k) if k in LABELS else len(LABELS), k),
    ):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        label = LABELS.get(key, key)
        prefix = "sha256 " if key.endswith("sha256") else ""
        out.append(f"{label} changed ({prefix}{_short(before)} → {_short(after)})")
    return out


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """``"vector file content changed (sha256 ab12… → cd34…), alpha changed (1.0 → 2.0)"``."""
    return ", ".join(changes(old, new)) or "nothing changed"
