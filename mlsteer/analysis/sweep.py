"""Layer sensitivity (the paper's Figure 7): steer at each layer (and alpha), choose on
validation items, report on test items.

Pure functions over per-item correctness. The choice never looks at test data: it is the
(layer, alpha) with the highest validation accuracy, ties broken toward the earlier layer and
then the smaller alpha (the order of ``layers`` and ``alphas``). At the chosen cell the test
accuracy is reported next to the negated-vector and random-vector controls, each as a paired
difference from the unsteered baseline on the same items (:mod:`mlsteer.analysis.paired`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from jaxtyping import Bool, Float
from torch import Tensor

from mlsteer.analysis.paired import Comparison, compare
from mlsteer.errors import MlsteerError

CONTROLS = ("vector", "negated", "random")
ALL_LAYERS = -1  # a sweep over alpha alone, steering at every learned layer at once


def layer_name(layer: int) -> str:
    """``L6``, or ``all layers`` for a sweep that steers every learned layer at once."""
    return "all layers" if layer == ALL_LAYERS else f"L{layer}"


def accuracy_grid(correct: Bool[Tensor, "layer alpha item"]) -> Float[Tensor, "layer alpha"]:
    return correct.float().mean(-1)


def shared_cell(
    grids: Sequence[Float[Tensor, "layer alpha"]], layers: Sequence[int], alphas: Sequence[float]
) -> tuple[int, float]:
    """One (layer, alpha) for all languages: the best mean validation accuracy over their grids
    (for languages the validation task lacks; still chosen on validation data only)."""
    if not grids:
        raise MlsteerError("no validation grids to average; sweep at least one language")
    mean = torch.stack([g.float() for g in grids]).mean(0)
    return _argmax_cell(mean, layers, alphas)


def _argmax_cell(
    grid: Float[Tensor, "layer alpha"], layers: Sequence[int], alphas: Sequence[float]
) -> tuple[int, float]:
    flat = grid.flatten()
    best = int(torch.nonzero(flat == flat.max())[0])  # first maximum in (layer, alpha) order
    return layers[best // len(alphas)], alphas[best % len(alphas)]


def choose_cell(
    validation: Bool[Tensor, "layer alpha item"], layers: Sequence[int], alphas: Sequence[float]
) -> tuple[int, float]:
    """The (layer, alpha) with the best validation accuracy; the first in grid order on ties."""
    if validation.shape[:2] != (len(layers), len(alphas)):
        raise MlsteerError(
            f"validation grid is {tuple(validation.shape[:2])} but there are {len(layers)} layers x {len(alphas)} alphas"
        )
    if validation.shape[-1] == 0:
        raise MlsteerError(
            "no validation items; the sweep chooses on validation data, so give it some"
        )
    return _argmax_cell(accuracy_grid(validation), layers, alphas)


@dataclass(frozen=True)
class LanguageSweep:
    """One language's sweep: accuracy grids, the validation choice and the test report."""

    lang: str
    layers: tuple[int, ...]
    alphas: tuple[float, ...]
    validation: Float[Tensor, "layer alpha"]
    basic_validation: float
    chosen: tuple[int, float]
    test: dict[
        str, Comparison
    ]  # "vector" / "negated" / "random" at the chosen cell, vs basic (empty: not run)
    basic_test: float | None
    test_grid: Float[Tensor, "layer alpha"] | None = field(default=None)  # for the figure only

    def to_dict(self) -> dict:
        out = {
            "lang": self.lang,
            "layers": list(self.layers),
            "alphas": list(self.alphas),
            "validation": self.validation.tolist(),
            "basic_validation": self.basic_validation,
            "chosen": {"layer": self.chosen[0], "alpha": self.chosen[1]},
            "basic_test": self.basic_test,
            "test": {name: vars(c) for name, c in self.test.items()},
        }
        if self.test_grid is not None:
            out["test_grid"] = self.test_grid.tolist()
        return out

    @classmethod
    def from_dict(cls, data: dict) -> LanguageSweep:
        grid = data.get("test_grid")
        return cls(
            data["lang"],
            tuple(data["layers"]),
            tuple(data["alphas"]),
            torch.tensor(data["validation"]),
            data["basic_validation"],
            (data["chosen"]["layer"], data["chosen"]["alpha"]),
            {name: Comparison(**c) for name, c in data["test"].items()},
            data["basic_test"],
            torch.tensor(grid) if grid is not None else None,
        )


def summarise_sweep(
    lang: str,
    layers: Sequence[int],
    alphas: Sequence[float],
    validation: Bool[Tensor, "layer alpha item"],
    basic_validation: Bool[Tensor, " item"],
    test_at_choice: Mapping[str, Bool[Tensor, " test_item"]],
    basic_test: Bool[Tensor, " test_item"] | None,
    test_grid: Bool[Tensor, "layer alpha test_item"] | None = None,
) -> LanguageSweep:
    """Choose on ``validation`` and compare ``test_at_choice`` (vector and controls, evaluated
    at that choice on the test items) with the unsteered ``basic_test`` (``None``: choice only)."""
    chosen = choose_cell(validation, layers, alphas)
    return LanguageSweep(
        lang,
        tuple(layers),
        tuple(alphas),
        accuracy_grid(validation),
        basic_validation.float().mean().item(),
        chosen,
        {name: compare(correct, basic_test) for name, correct in test_at_choice.items()},
        basic_test.float().mean().item() if basic_test is not None else None,
        accuracy_grid(test_grid) if test_grid is not None else None,
    )
