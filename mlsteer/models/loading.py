"""`load_model`: one entry point for the embedded Gemma, tiny test models, local folders and Hub ids."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from mlsteer.distributed import local_rank
from mlsteer.errors import MlsteerError, UnknownModelError, check_choice
from mlsteer.models.attention import use_native_norms, use_sdpa
from mlsteer.models.devices import ATTENTION, parse_dtype, resolve_device
from mlsteer.models.embedded_gemma import (
    BRIDGE_ID,
    EMBEDDED_NAME,
    is_embedded_cached,
    load_embedded_hf,
)
from mlsteer.models.tiny import TINY_MODELS, tiny_hf_model, tiny_tokenizer
from mlsteer.models.wrapper import SteerableModel, config_fingerprint

# The paper's models (Section 4); any Hub id of a causal LM the bridge supports also works.
PAPER_MODELS = (
    "meta-llama/Llama-2-7b-chat-hf",
    "CohereForAI/aya-23-8B",
    "google/gemma-7b",
    "Qwen/Qwen1.5-7B-Chat",
    "meta-llama/Meta-Llama-3-8B",
    "meta-llama/Llama-2-13b-hf",
)
BUILTIN_MODELS = (EMBEDDED_NAME, *TINY_MODELS)


def load_model(
    name_or_path: str = EMBEDDED_NAME,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    seed: int = 0,
    device_map: str | dict | None = None,
    attn_implementation: str = "sdpa",
) -> SteerableModel:
    """Load a model behind a TransformerLens 4 bridge.

    Args:
        name_or_path: ``gemma-3-270m`` (embedded, offline), ``tiny-gemma3`` / ``tiny-llama``
            (random weights, for tests), a local HF folder, or a Hub id such as
            ``meta-llama/Llama-2-7b-chat-hf``.
        device: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto`` (the GPU if there is one).
        dtype: weights dtype (``float32``, ``bfloat16``, ``float16``); weights are cast as they
            load, straight onto the device (the embedded model's cache is fp32).
        seed: weight seed of the tiny models.
        device_map: spread a model larger than one GPU over several (accelerate's
            ``device_map``: ``"auto"``, ``"balanced"`` or a dict); replaces ``device``.
        attn_implementation: ``sdpa`` (default; every mlsteer path) or ``eager``, needed only
            to hook attention scores or patterns (see :mod:`mlsteer.models.attention`).
    """
    check_choice("attn_implementation", attn_implementation, ATTENTION)
    hf_model, tokenizer, name, bridge_id = load_hf(
        name_or_path, device, dtype, seed, device_map, attn_implementation
    )
    return wrap_hf_model(hf_model, tokenizer, name, bridge_id)


def load_hf(
    name_or_path: str,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype = torch.float32,
    seed: int = 0,
    device_map: str | dict | None = None,
    attn_implementation: str = "sdpa",
) -> tuple[PreTrainedModel, Any, str, str]:
    """The plain HF model and tokenizer behind ``name_or_path`` (no bridge), its mlsteer name,
    and the id that picks the bridge adapter. Fine-tuning starts from here."""
    dtype = parse_dtype(dtype)
    placement = _placement(device, device_map)
    if name_or_path == EMBEDDED_NAME:
        hf_model, tokenizer = load_embedded_hf(
            dtype=dtype, attn_implementation=attn_implementation, device_map=placement
        )
        return hf_model, tokenizer, EMBEDDED_NAME, BRIDGE_ID
    if name_or_path in TINY_MODELS:
        if isinstance(placement, dict) or placement in (
            "auto",
            "balanced",
            "balanced_low_0",
            "sequential",
        ):
            raise MlsteerError(
                f"{name_or_path} is built in-process on one device; pass device=..., not device_map"
            )
        hf_model = tiny_hf_model(name_or_path, seed=seed, attn_implementation=attn_implementation)
        return (
            hf_model.to(device=placement, dtype=dtype),
            tiny_tokenizer(),
            name_or_path,
            name_or_path,
        )
    source = parse_model_id(name_or_path).source  # a local folder or a Hub id
    tokenizer = AutoTokenizer.from_pretrained(source)
    hf_model = AutoModelForCausalLM.from_pretrained(
        source, dtype=dtype, attn_implementation=attn_implementation, device_map=placement
    )
    return hf_model.eval(), tokenizer, source, source


@dataclass(frozen=True)
class ModelId:
    """What a model name means: ``builtin`` (embedded or tiny), a ``local`` folder, or a ``hub`` id."""

    kind: Literal["builtin", "local", "hub"]
    source: str  # the name, the folder's path, or the Hub id


# A Hub repo id: OWNER/NAME, letters, digits, "_", "-" and "." (dots allowed: Qwen1.5, Llama-3.1).
_HUB_ID = re.compile(r"[A-Za-z0-9_][\w.-]{0,95}/[A-Za-z0-9_][\w.-]{0,95}")
_FILE_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".gguf",
    ".pt",
    ".pth",
    ".json",
    ".jsonl",
    ".txt",
    ".tsv",
    ".toml",
    ".yaml",
)


def parse_model_id(name: str) -> ModelId:
    """``name`` as a built-in model, a local folder (checked first: ``org/Model-1.5`` on disk is
    that folder), or a Hub id; anything else raises naming the three."""
    if name in BUILTIN_MODELS:
        return ModelId("builtin", name)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelId("local", str(path))
    if path.exists():
        raise UnknownModelError(
            f"{name} is a file; --model takes a model folder, a Hub id or a built-in name"
        )
    looks_like_path = name.startswith((".", "/", "~")) or name.lower().endswith(_FILE_SUFFIXES)
    if (
        not looks_like_path
        and _HUB_ID.fullmatch(name)
        and ".." not in name
        and "--" not in name
        and not name.endswith((".", "-"))
    ):
        return ModelId("hub", name)
    where = (
        f"no model folder at {path}"
        if looks_like_path or "/" in name
        else f"unknown model {name!r}"
    )
    raise UnknownModelError(
        f"{where}; use one of the built-in models ({', '.join(BUILTIN_MODELS)}), a local Hugging Face "
        f"model folder, or a Hub id such as {PAPER_MODELS[3]!r}"
    )


def _placement(device: str | torch.device, device_map: str | dict | None) -> str | dict:
    """What ``from_pretrained(device_map=...)`` gets: the map, or the one resolved device (so
    the weights load straight onto it, with no CPU copy first)."""
    if device_map is None:
        return str(resolve_device(device, local_rank()))
    if isinstance(device_map, str) and device_map != "auto" and not torch.cuda.is_available():
        resolve_device(device_map)  # "cuda:1" with no GPU: the one-line error
    return device_map


def wrap_hf_model(
    hf_model: PreTrainedModel, tokenizer: Any, name: str, bridge_id: str
) -> SteerableModel:
    """Put an already-loaded HF causal LM behind a bridge; nothing is downloaded. The bridge
    keeps the model where it is (one device, or accelerate's ``hf_device_map``) and the
    attention it was loaded with: SDPA unless it was loaded ``eager``."""
    attention = getattr(hf_model.config, "_attn_implementation", None) or "sdpa"
    if tokenizer.pad_token is None:  # Llama has none; padded positions are masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    # The bridge logs a deprecation line for every alias it resolves; keep the console quiet.
    logging.getLogger("transformer_lens").setLevel(logging.ERROR)
    first = next(hf_model.parameters())
    bridge = TransformerBridge.boot_transformers(
        bridge_id, hf_model=hf_model, tokenizer=tokenizer, device=first.device, dtype=first.dtype
    )
    bridge.eval()
    if attention != "eager":  # the bridge forced eager on the model; put SDPA back behind it
        use_sdpa(bridge)
    use_native_norms(bridge)
    return SteerableModel(
        bridge=bridge,
        tokenizer=bridge.tokenizer,
        name=name,
        fingerprint=config_fingerprint(name, hf_model.config),
    )


def offline_models() -> dict[str, str]:
    """Models usable with no network, with their state (for ``mlsteer info``)."""
    embedded = "cached" if is_embedded_cached() else "converts on first use (~50 s)"
    return {EMBEDDED_NAME: embedded, **dict.fromkeys(TINY_MODELS, "built in-process")}
