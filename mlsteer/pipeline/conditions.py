"""The conditions an inside-the-model analysis compares: base, steered, fine-tuned (SFT)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext

from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering import load_steering, steer


def conditions(
    model: SteerableModel,
    lang: str,
    vectors: Mapping[str, str] | None = None,
    alpha: float = 1.0,
    sft: Mapping[str, SteerableModel] | None = None,
) -> Iterator[tuple[str, SteerableModel, AbstractContextManager]]:
    """``(name, model to run, context to run it in)``: always ``base``; ``steered (alpha A)`` where
    ``vectors[lang]`` names a vector file; ``SFT`` where ``sft[lang]`` is a fine-tuned model."""
    yield "base", model, nullcontext()
    if vectors and lang in vectors:
        yield (
            f"steered (alpha {alpha:g})",
            model,
            steer(model, load_steering(vectors[lang]), alpha=alpha),
        )
    if sft and lang in sft:
        yield "SFT", sft[lang], nullcontext()
