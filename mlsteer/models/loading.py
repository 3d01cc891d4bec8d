"""`load_model`: one entry point for the embedded Gemma, tiny test models, local folders and Hub ids."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformer_lens.model_bridge import TransformerBridge
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from mlsteer.errors import UnknownModelError
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
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> SteerableModel:
    """Load a model behind a TransformerLens 4 bridge.

    Args:
        name_or_path: ``gemma-3-270m`` (embedded, offline), ``tiny-gemma3`` / ``tiny-llama``
            (random weights, for tests), a local HF folder, or a Hub id such as
            ``meta-llama/Llama-2-7b-chat-hf``.
        device: ``cpu`` by default; ``cuda`` for a GPU.
        dtype: weights dtype for Hub and folder models (the embedded model is always fp32).
        seed: weight seed of the tiny models.
    """
    hf_model, tokenizer, name, bridge_id = load_hf(name_or_path, device, dtype, seed)
    return wrap_hf_model(hf_model, tokenizer, name, bridge_id, device)


def load_hf(
    name_or_path: str, device: str = "cpu", dtype: torch.dtype = torch.float32, seed: int = 0
) -> tuple[PreTrainedModel, Any, str, str]:
    """The plain HF model and tokenizer behind ``name_or_path`` (no bridge), its mlsteer name,
    and the id that picks the bridge adapter. Fine-tuning starts from here."""
    if name_or_path == EMBEDDED_NAME:
        hf_model, tokenizer = load_embedded_hf(device)
        return hf_model, tokenizer, EMBEDDED_NAME, BRIDGE_ID
    if name_or_path in TINY_MODELS:
        return tiny_hf_model(name_or_path, seed=seed).to(device), tiny_tokenizer(), name_or_path, name_or_path
    path = Path(name_or_path).expanduser()
    if path.is_dir() or ("/" in name_or_path and not path.suffix):
        source = str(path) if path.is_dir() else name_or_path
        tokenizer = AutoTokenizer.from_pretrained(source)
        hf_model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, attn_implementation="eager")
        return hf_model.to(device).eval(), tokenizer, source, source
    raise UnknownModelError(
        f"unknown model {name_or_path!r}; use one of the built-in models "
        f"({', '.join(BUILTIN_MODELS)}), a local Hugging Face model folder, or a Hub id such "
        f"as {PAPER_MODELS[0]!r}"
    )


def wrap_hf_model(
    hf_model: PreTrainedModel, tokenizer: Any, name: str, bridge_id: str, device: str = "cpu"
) -> SteerableModel:
    """Put an already-loaded HF causal LM behind a bridge; nothing is downloaded."""
    if tokenizer.pad_token is None:  # Llama has none; padded positions are masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    # The bridge logs a deprecation line for every alias it resolves; keep the console quiet.
    logging.getLogger("transformer_lens").setLevel(logging.ERROR)
    bridge = TransformerBridge.boot_transformers(
        bridge_id, hf_model=hf_model, tokenizer=tokenizer, device=device
    )
    bridge.eval()
    return SteerableModel(
        bridge=bridge,
        tokenizer=bridge.tokenizer,
        name=name,
        fingerprint=config_fingerprint(name, hf_model.config),
    )


def offline_models() -> dict[str, str]:
    """Models usable with no network, with their state (for ``mlsteer info``)."""
    embedded = "cached" if is_embedded_cached() else "converts on first use (~50 s)"
    return {EMBEDDED_NAME: embedded, **{name: "built in-process" for name in TINY_MODELS}}
