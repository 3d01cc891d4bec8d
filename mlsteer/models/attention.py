"""SDPA attention behind the bridge, for every path that does not read attention patterns.

Why this is needed: TransformerLens 4's ``PositionEmbeddingsAttentionBridge`` (Llama, Gemma,
Qwen...) re-implements attention with plain matmuls and a softmax so that ``hook_attn_scores``
and ``hook_pattern`` can fire, whatever ``attn_implementation`` the HF model was loaded with.
That costs an ``[batch, heads, pos, pos]`` score tensor per layer. mlsteer steers, scores,
generates and caches through ``hook_resid_post`` only, so by default each attention bridge
runs TL's own delegating forward (``AttentionBridge.forward``: hook_in -> the HF module ->
hook_out), and the HF module dispatches to ``torch.nn.functional.scaled_dot_product_attention``.
Hooks on q/k/v and on the output projection still fire (they are separate bridges); the score
and pattern hooks cannot, so registering one under SDPA is an error naming the fix.
"""

from __future__ import annotations

from typing import Any

from transformer_lens.model_bridge import TransformerBridge
from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge

from mlsteer.errors import MlsteerError

# Hook points that exist only inside TL's re-implemented attention.
PATTERN_HOOKS = ("hook_attn_scores", "hook_pattern", "hook_rot_q", "hook_rot_k", "hook_q_normed", "hook_k_normed")


class AttentionHookError(MlsteerError):
    """A hook on attention scores or patterns of a model loaded with SDPA attention."""


def use_sdpa(bridge: TransformerBridge) -> None:
    """Switch ``bridge`` (in place) to the HF model's SDPA attention; see the module docstring."""
    bridge.original_model.set_attn_implementation("sdpa")
    for index, block in enumerate(bridge.blocks):
        attention = getattr(block, "attn", None)
        if isinstance(attention, AttentionBridge):
            # object.__setattr__: bridge components forward attribute writes to the HF module.
            object.__setattr__(attention, "forward", _delegating_forward(attention, index))


def _delegating_forward(attention: AttentionBridge, layer: int):
    """TL's delegating forward for one attention bridge, refusing pattern hooks (built per
    layer so each closure keeps its own module)."""
    delegate = AttentionBridge.forward.__get__(attention)

    def forward(*args: Any, **kwargs: Any) -> Any:
        hooked = [name for name in PATTERN_HOOKS if _has_hooks(getattr(attention, name, None))]
        if hooked:
            raise AttentionHookError(
                f"blocks.{layer}.attn.{hooked[0]} has a hook, but this model runs SDPA attention, which "
                "computes no score or pattern tensor; load it with load_model(..., attn_implementation='eager')"
            )
        return delegate(*args, **kwargs)

    return forward


def _has_hooks(hook_point: Any) -> bool:
    return hook_point is not None and bool(getattr(hook_point, "_forward_hooks", None))
