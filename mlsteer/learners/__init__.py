"""Learners: pure functions from cached activations to a steering vector or map.

Closed-form learners take pooled ``source`` (target language) and ``goal`` (English or a pivot)
activations at one layer. BiPO also needs a differentiable function for the layers above
(:class:`mlsteer.models.upper.UpperStack`) and token-level data; see :mod:`.bipo`.
"""

from mlsteer.errors import MlsteerError
from mlsteer.learners.base import (
    Diagnostics,
    Learner,
    LearnResult,
    alignment_cosine,
    check_paired,
    heldout_cosines,
)
from mlsteer.learners.bipo import BipoConfig, learn_bipo, preference_margin
from mlsteer.learners.lstsq import learn_lstsq
from mlsteer.learners.mean_difference import learn_mean_difference
from mlsteer.learners.mse import PAPER_MSE, MSEConfig, learn_mse
from mlsteer.learners.pca import learn_pca

# Learners that need only pooled activations (so `--layer all` runs them from one pass).
ACTIVATION_LEARNERS: dict[str, Learner] = {
    "meandiff": learn_mean_difference,
    "mse": learn_mse,
    "pca": learn_pca,
    "lstsq": learn_lstsq,
}
METHODS = (*ACTIVATION_LEARNERS, "bipo")


def get_learner(method: str) -> Learner:
    """The activation learner called ``method``; raises listing the valid names."""
    if method not in ACTIVATION_LEARNERS:
        hint = (
            " (bipo trains through the model: use mlsteer.learners.learn_bipo)"
            if method == "bipo"
            else ""
        )
        raise MlsteerError(f"unknown learner {method!r}{hint}; use one of: {', '.join(METHODS)}")
    return ACTIVATION_LEARNERS[method]


__all__ = [
    "ACTIVATION_LEARNERS",
    "METHODS",
    "PAPER_MSE",
    "BipoConfig",
    "Diagnostics",
    "LearnResult",
    "Learner",
    "MSEConfig",
    "alignment_cosine",
    "check_paired",
    "get_learner",
    "heldout_cosines",
    "learn_bipo",
    "learn_lstsq",
    "learn_mean_difference",
    "learn_mse",
    "learn_pca",
    "preference_margin",
]
