"""Device and dtype names as users type them (``--device``, ``--dtype``, configs), checked once.

``auto`` means the GPU when there is one, else the CPU; asking for a GPU that is not there is
an error naming the fix, never a silent fall-back to a 100x slower CPU run.
"""

from __future__ import annotations

import re

import torch

from mlsteer.errors import InvalidOptionError, check_choice

DEVICES = ("auto", "cpu", "cuda", "cuda:N")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
ATTENTION = ("sdpa", "eager")


def resolve_device(spec: str | torch.device = "cpu", local_rank: int | None = None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` -> a concrete ``torch.device``.

    ``local_rank`` (set under torchrun) turns ``cuda`` and ``auto`` into ``cuda:{local_rank}``,
    so each data-parallel process gets its own GPU.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if not re.fullmatch(r"cuda(:\d+)?", spec):
        raise InvalidOptionError(f"unknown device {spec!r}; use one of: {', '.join(DEVICES)}")
    if not torch.cuda.is_available():
        raise InvalidOptionError(
            f"device {spec!r} asked for a GPU but torch sees none (torch {torch.__version__}); "
            "use --device cpu, or install a CUDA build of torch on a machine with a GPU"
        )
    if spec == "cuda":
        return torch.device("cuda", local_rank or 0)
    index = int(spec.split(":")[1])
    if index >= torch.cuda.device_count():
        raise InvalidOptionError(
            f"device {spec!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s); "
            f"use cuda:0..cuda:{torch.cuda.device_count() - 1}"
        )
    return torch.device("cuda", index)


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    """``float32`` / ``bfloat16`` / ``float16`` (or a ``torch.dtype``) -> ``torch.dtype``."""
    if isinstance(name, torch.dtype):
        if name not in DTYPES.values():
            raise InvalidOptionError(f"unsupported dtype {name}; use one of: {', '.join(DTYPES)}")
        return name
    return DTYPES[check_choice("dtype", name.strip().lower().removeprefix("torch."), tuple(DTYPES))]


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``bfloat16`` (for configs, logs and file headers)."""
    return str(dtype).removeprefix("torch.")
