"""`SteerableModel`: a TransformerLens 4 bridge plus what steering needs to know about it.

Dimension glossary used across mlsteer: ``batch`` texts in a batch, ``pos`` token positions,
``d_model`` residual width, ``layer`` selected layers, ``vocab`` vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformer_lens.model_bridge import TransformerBridge

from mlsteer.errors import LayerOutOfRangeError
from mlsteer.hashing import hash_mapping
from mlsteer.models.plain import LayerHook, hf_module

# Config keys that define a model's shape; the fingerprint hashes these and the name, so two
# checkpoints of one architecture with different names never share vectors silently.
_FINGERPRINT_KEYS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "intermediate_size",
    "head_dim",
)


def config_fingerprint(name: str, hf_config: Any) -> str:
    """``name@hash`` where the hash covers the shape-defining config fields."""
    config = hf_config.to_dict() if hasattr(hf_config, "to_dict") else dict(hf_config)
    return f"{name}@{hash_mapping({key: config.get(key) for key in _FINGERPRINT_KEYS})}"


@dataclass
class DecodingPositions:
    """Where the current forward pass sits in a sequence, so steering hooks can pick positions.

    A plain forward covers positions ``0..pos-1`` of a prompt (``prompt_length=None`` means
    every position is prompt). During KV-cached generation each forward covers only the new
    token, so the generation loop sets ``offset`` (the absolute index of its first position),
    the padded prompt length, and where each row's BOS sits (rows are left-padded).
    """

    offset: int = 0
    prompt_length: int | None = None
    bos_index: torch.Tensor | None = None  # [batch] absolute BOS position, None: column 0


@dataclass
class SteerableModel:
    """A loaded model: the bridge, its tokenizer and the facts vectors are checked against.

    Attributes:
        bridge: the TransformerLens 4 ``TransformerBridge`` (raw HF weights, HF-equal logits).
        tokenizer: its tokenizer, with a pad token set (right padding by default).
        name: the name it was loaded under (``gemma-3-270m``, a Hub id, a folder, ``tiny-llama``).
        fingerprint: ``name@confighash``; vectors record it and are refused on other models.
        positions: where the current forward sits (set by generation; read by steering hooks).
        steering_hooks: the ``(layer, hook)`` pairs active :func:`mlsteer.steer` blocks put on
            the bridge, in order, so the plain-HF fast path (:mod:`mlsteer.models.plain`)
            can apply the same ones and tell them from anyone else's.
    """

    bridge: TransformerBridge
    tokenizer: Any
    name: str
    fingerprint: str
    positions: DecodingPositions = field(default_factory=DecodingPositions)
    steering_hooks: tuple[LayerHook, ...] = ()
    _hf_layers: tuple[nn.Module, ...] = field(default=(), init=False, repr=False, compare=False)

    @property
    def n_layers(self) -> int:
        return int(self.bridge.cfg.n_layers)

    @property
    def d_model(self) -> int:
        return int(self.bridge.cfg.d_model)

    @property
    def device(self) -> torch.device:
        """Where inputs go: the embedding's device (the first of several under a ``device_map``)."""
        return self.bridge.original_model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype; residuals have it too (steering casts its fp32 vectors to it)."""
        return self.bridge.original_model.get_input_embeddings().weight.dtype

    @property
    def attn_implementation(self) -> str:
        """``sdpa`` or ``eager`` (see :mod:`mlsteer.models.attention`)."""
        return str(self.bridge.original_model.config._attn_implementation)

    @property
    def hf_layers(self) -> tuple[nn.Module, ...]:
        """The HF decoder layer module of each block, by index (what the bridge's block wraps),
        derived once: devices are read from it and the fast path hooks it."""
        if not self._hf_layers:
            self._hf_layers = tuple(
                hf_module(layer) for layer in self.bridge.original_model.get_decoder().layers
            )
        return self._hf_layers

    def layer_device(self, layer: int) -> torch.device:
        """The device block ``layer`` runs on: under a ``device_map`` split, steering entries,
        masks and BiPO's vector go there, not to the first GPU."""
        return next(self.hf_layers[self.check_layer(layer)].parameters()).device

    @property
    def output_device(self) -> torch.device:
        """The device of the unembedding (the last GPU of a ``device_map`` split)."""
        return self.bridge.original_model.get_output_embeddings().weight.device

    @property
    def adds_bos(self) -> bool:
        """Whether the tokenizer puts a BOS token first (Gemma and Llama do)."""
        bos_id = self.tokenizer.bos_token_id
        ids = self.tokenizer("a")["input_ids"]
        return bos_id is not None and len(ids) > 0 and ids[0] == bos_id

    def check_layer(self, layer: int) -> int:
        """Return ``layer`` if it exists in this model, else raise naming the valid range."""
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < self.n_layers:
            raise LayerOutOfRangeError(
                f"layer {layer!r} is out of range for {self.name}, which has {self.n_layers} "
                f"layers; use an integer from 0 to {self.n_layers - 1}"
            )
        return layer

    def hook_name(self, layer: int) -> str:
        """The residual-stream hook after block ``layer``: ``blocks.{layer}.hook_resid_post``."""
        return f"blocks.{self.check_layer(layer)}.hook_resid_post"

    def unembed(self, hidden: torch.Tensor) -> torch.Tensor:
        """float32 logits for final-norm hidden states ``[..., d_model]``, soft-capped where the
        model does (Gemma 2/3 configs may set ``final_logit_softcapping``)."""
        hf_model = self.bridge.original_model
        flat = hidden.reshape(-1, hidden.shape[-1])
        rows = flat.shape[0]
        # Pad to a multiple of 16 rows: the CPU fp32 GEMM here takes 145 ms for 13 rows of
        # Gemma's 262k-vocabulary unembedding but 61 ms for 16 (bench/bench_bipo.py).
        padded = torch.nn.functional.pad(flat.to(self.output_device), (0, 0, 0, -rows % 16))
        logits = hf_model.get_output_embeddings()(padded)[:rows].float()
        softcap = getattr(hf_model.config, "final_logit_softcapping", None)
        logits = torch.tanh(logits / softcap) * softcap if softcap else logits
        return logits.reshape(*hidden.shape[:-1], logits.shape[-1])

    def __repr__(self) -> str:
        return (
            f"SteerableModel({self.name!r}, n_layers={self.n_layers}, d_model={self.d_model}, "
            f"device={self.device})"
        )
