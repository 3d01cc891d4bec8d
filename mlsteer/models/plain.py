"""The plain-HF fast path: the HF model runs with the bridge's wrappers set aside.

Why: the TransformerLens bridge costs a fixed ~9 ms per call (argument handling) and ~22 ms per
decoding step of the 270M Gemma (every block passes its ~40 hook points; BENCHMARKS.md,
"Peers"). When the only hooks a call needs are mlsteer's own (the :func:`mlsteer.steer`
additions and the caching captures), the same HF modules can run directly, with plain
``register_forward_hook`` hooks on the decoder layers. The bridge's components wrap the HF
modules in place (``parent.child`` is a bridge whose ``original_component`` is the HF
module), so :func:`unbridged` puts the originals back for one call and restores the bridge
after it, also on errors.

The bridge path stays the reference: :func:`fast_path_available` is the one predicate that
picks the fast path, and it says no whenever another hook might be missed or the HF modules
might compute something other than what the bridge computes.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint
from transformer_lens.model_bridge.generalized_components.base import GeneralizedComponent

if TYPE_CHECKING:
    from mlsteer.models.wrapper import SteerableModel

# A TransformerLens-style hook, ``fn(resid, hook) -> new resid or None``: the form mlsteer's
# steering and capture hooks take on both paths (the fast path passes ``hook=None``).
ResidHook = Callable[[Tensor, Any], Tensor | None]
LayerHook = tuple[int, ResidHook]


class StopForward(Exception):
    """Raised by the fast path's hook after the top layer a capture needs: nothing above runs."""


@dataclass
class PlainView:
    """What the fast path needs to know about one bridge, derived once (see :func:`plain_view`).

    Attributes:
        swaps: ``(parent, child name, bridge component, HF original)`` for every wrapped module.
        hook_dicts: every hook dict (forward, pre-forward, backward) of the bridge's hook
            points, where TransformerLens hooks go and which the fast path does not run (TL's
            own wiring hooks on its components only feed these). Kept as the dicts so that
            counting them all is one C-level pass (~1000 hook points on an 18-layer model).
        resid_points: the hook point of ``blocks.{L}.hook_resid_post``, per layer.
    """

    swaps: tuple[tuple[nn.Module, str, nn.Module, nn.Module], ...]
    hook_dicts: tuple[dict, ...]
    resid_points: tuple[HookPoint, ...]
    depth: int = field(default=0)  # nested unbridged() calls; the outermost swaps

    def intact(self) -> bool:
        """Whether every recorded bridge component still sits where it was found (else a module
        was replaced since, e.g. by an adapter library, and the view must be derived again)."""
        return all(
            parent._modules.get(name) is component for parent, name, component, _ in self.swaps
        )


_VIEWS: weakref.WeakKeyDictionary[nn.Module, PlainView | None] = weakref.WeakKeyDictionary()


def hf_module(module: nn.Module) -> nn.Module:
    """The HF module a bridge component wraps (``module`` itself if it wraps none)."""
    original = getattr(module, "original_component", None)
    return original if isinstance(module, GeneralizedComponent) and original else module


def plain_view(model: SteerableModel) -> PlainView | None:
    """The model's :class:`PlainView`, or None where the layer mapping is unknown: the bridge's
    ``blocks`` are not the HF decoder's layers one to one, or a block wraps no HF layer."""
    view = _VIEWS.get(model.bridge)
    if model.bridge not in _VIEWS or (view is not None and not view.depth and not view.intact()):
        view = _VIEWS[model.bridge] = _derive_view(model)  # first use, or modules replaced since
    return view


def _derive_view(model: SteerableModel) -> PlainView | None:
    bridge = model.bridge
    try:
        wrapped = list(bridge.original_model.get_decoder().layers)
        blocks = list(bridge.blocks)
        points = tuple(bridge.hook_dict[model.hook_name(layer)] for layer in range(model.n_layers))
    except (AttributeError, KeyError, TypeError):
        return None
    if len(wrapped) != len(blocks) or any(a is not b for a, b in zip(wrapped, blocks, strict=True)):
        return None
    if any(layer is block for layer, block in zip(model.hf_layers, blocks)) or any(
        point is not block.hook_out for point, block in zip(points, blocks, strict=True)
    ):
        return None
    hook_dicts = tuple(
        hooks
        for module in bridge.modules()
        if isinstance(module, HookPoint)
        for hooks in (
            module._forward_hooks,
            module._forward_pre_hooks,
            module._backward_hooks,
            module._backward_pre_hooks,
        )
    )
    return PlainView(_swaps(bridge.original_model), hook_dicts, points)


def _swaps(root: nn.Module) -> tuple[tuple[nn.Module, str, nn.Module, nn.Module], ...]:
    """Every ``(parent, name, bridge, original)`` below ``root``, inside originals too (an HF
    decoder layer's attention and MLP are bridges again)."""
    found, seen, stack = [], set(), [root]
    while stack:
        parent = stack.pop()
        for name, child in parent._modules.items():
            if child is None or id(child) in seen:
                continue
            seen.add(id(child))
            original = hf_module(child)
            if original is not child:
                found.append((parent, name, child, original))
            stack.append(original)
    return tuple(found)


def fast_path_available(model: SteerableModel) -> bool:
    """Whether a call may run the plain HF model (:func:`plain_forward`) instead of the bridge.

    Yes only when the layer mapping is known (:func:`plain_view`), the bridge runs the HF
    weights and modules unchanged (no TransformerLens compatibility mode or processed weights;
    attention delegates to HF's SDPA, not TL's own eager re-implementation), and the only
    TransformerLens hooks on the bridge's hook points are the ones :func:`mlsteer.steer` put
    there. (Plain PyTorch hooks on the HF modules themselves run on both paths.)
    """
    view = plain_view(model)
    bridge = model.bridge
    if view is None or model.attn_implementation != "sdpa":
        return False
    if getattr(bridge, "compatibility_mode", False) or getattr(bridge, "_weights_processed", False):
        return False
    own = Counter(layer for layer, _ in model.steering_hooks)
    expected = [(len(view.resid_points[layer]._forward_hooks), n) for layer, n in own.items()]
    # every hook is one of steer's: as many in all as steer put there, and each where it should be
    return sum(map(len, view.hook_dicts)) == sum(own.values()) and all(
        found == n for found, n in expected
    )


@contextmanager
def unbridged(model: SteerableModel) -> Iterator[nn.Module]:
    """Within the block the HF model (yielded) runs its own modules, no bridge component;
    the bridge's components go back afterwards, also on errors."""
    view = plain_view(model)
    if view is None:
        raise RuntimeError(
            f"{model.name} has no known plain-HF layer mapping; check fast_path_available(model) "
            "first and use the bridge when it is False"
        )
    if not view.depth:
        for parent, name, _, original in view.swaps:
            parent._modules[name] = original
    view.depth += 1
    try:
        yield model.bridge.original_model
    finally:
        view.depth -= 1
        if not view.depth:
            for parent, name, component, _ in view.swaps:
                parent._modules[name] = component


@contextmanager
def layer_hooks(model: SteerableModel, hooks: Sequence[LayerHook]) -> Iterator[None]:
    """Within the block each ``(layer, fn)`` runs as a forward hook on that HF decoder layer,
    in the order given; all are removed afterwards, also on errors."""
    handles = []
    try:
        for layer, fn in hooks:
            handles.append(model.hf_layers[layer].register_forward_hook(_on_output(fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _on_output(fn: ResidHook):
    """``fn`` as a module forward hook: it gets the layer's residual output (a Gemma 3 layer
    in transformers 5 returns a plain tensor, older layers a tuple with it first) and what it
    returns replaces that residual."""

    def hook(module: nn.Module, args: Any, output: Any) -> Any:
        resid = output[0] if isinstance(output, tuple) else output
        new = fn(resid, None)
        if new is None:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) else new

    return hook


def named_hooks(model: SteerableModel, hooks: Sequence[LayerHook]) -> list[tuple[str, ResidHook]]:
    """``hooks`` as the bridge takes them: ``(blocks.{L}.hook_resid_post, fn)`` pairs."""
    return [(model.hook_name(layer), fn) for layer, fn in hooks]


def stop_after(resid: Float[Tensor, "batch pos d_model"], hook: Any) -> None:
    """A layer hook that ends the forward (caught by :func:`plain_forward`'s caller)."""
    raise StopForward


@contextmanager
def plain_forward(model: SteerableModel, hooks: Sequence[LayerHook] = ()) -> Iterator[nn.Module]:
    """The HF model (yielded) with its own modules, the active :func:`mlsteer.steer` additions
    and then ``hooks`` on its decoder layers: the fast path's whole setup, undone afterwards."""
    with ExitStack() as stack:
        hf_model = stack.enter_context(unbridged(model))
        stack.enter_context(layer_hooks(model, [*model.steering_hooks, *hooks]))
        yield hf_model
