"""Stable short hashes that vectors and activation files record to say what they came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any


def hash_texts(texts: Iterable[str]) -> str:
    """SHA-256 (16 hex chars) of a text sequence; order matters, boundaries are unambiguous."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()[:16]


def hash_mapping(mapping: Mapping[str, Any]) -> str:
    """SHA-256 (12 hex chars) of a JSON-serialisable mapping, independent of key order."""
    payload = json.dumps(mapping, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:12]
