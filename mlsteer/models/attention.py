"""SDPA attention (and HF's own norms) behind the bridge, for every path that reads no
attention pattern and no norm scale.

Why this is needed: TransformerLens 4's ``PositionEmbeddingsAttentionBridge`` (Llama, Gemma,
Qwen...) re-implements attention with plain matmuls and a softmax so that ``hook_attn_scores``
and ``hook_pattern`` can fire, whatever ``attn_implementation`` the HF model was loaded with.
That costs an ``[batch, heads, pos, pos]`` score tensor per layer. mlsteer steers, scores,
generates and caches through ``hook_resid_post`` only, so by default each attention bridge
runs TL's own delegating forward (``AttentionBridge.forward``: hook_in -> the HF module ->
hook_out), and the HF module dispatches to ``torch.nn.functional.scaled_dot_product_attention``.
Hooks on q/k/v and on the output projection still fire (they are separate bridges); the score
and pattern hooks cannot, so registering one under SDPA is an error naming the fix.

Norms likewise: TL's ``NormalizationBridge`` runs the HF norm *and* recomputes its scale to feed
``hook_scale`` / ``hook_normalized`` (about twice the elementwise work of every norm). While no
hook sits on those two, :func:`use_native_norms` calls the HF module alone; with one, TL's path
runs as before.
"""

from __future__ import annotations

from typing import Any

from transformer_lens.model_bridge import TransformerBridge
from transformer_lens.model_bridge.generalized_components.attention import AttentionBridge
from transformer_lens.model_bridge.generalized_components.normalization import NormalizationBridge

from mlsteer.errors import MlsteerError

# Hook points that exist only inside TL's re-implemented attention.
PATTERN_HOOKS = (
    "hook_attn_scores",
    "hook_pattern",
    "hook_rot_q",
    "hook_rot_k",
    "hook_q_normed",
    "hook_k_normed",
)
NORM_HOOKS = ("hook_scale", "hook_normalized")


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


def use_native_norms(bridge: TransformerBridge) -> None:
    """Let every norm bridge run the HF norm alone while its inner hooks are unused (in place)."""
    for module in bridge.modules():
        if isinstance(module, NormalizationBridge) and module.original_component is not None:
            object.__setattr__(module, "forward", _native_norm_forward(module))


def _native_norm_forward(norm: NormalizationBridge):
    """hook_in -> the HF norm -> hook_out; TL's own forward when hook_scale/hook_normalized
    are hooked (built per module so each closure keeps its own)."""
    bridge_forward = type(norm).forward.__get__(norm)

    def forward(hidden_states, **kwargs):
        if kwargs or any(_has_hooks(getattr(norm, name, None)) for name in NORM_HOOKS):
            return bridge_forward(hidden_states, **kwargs)
        return norm.hook_out(norm.original_component(norm.hook_in(hidden_states)))

    return forward
