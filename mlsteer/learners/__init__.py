"""Learners: pure functions from cached activations to a steering vector or map.

Closed-form learners take pooled ``source`` (target language) and ``goal`` (English or a pivot)
activations at one layer. BiPO also needs a differentiable function for the layers above
(:class:`mlsteer.models.upper.UpperStack`) and token-level data; see :mod:`.bipo`. Each learner
registers itself with a :class:`LearnerSpec` (:mod:`.registry`): look learners up there by name.
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
from mlsteer.learners.registry import (
    LearnerSpec,
    RegisteredLearner,
    get_learner_entry,
    learner_names,
    learners,
    register_learner,
)

# The built-in learners, as they stood at import (a learner registered later is in `learners()`).
ACTIVATION_LEARNERS: dict[str, Learner] = {
    name: learners()[name].function for name in learner_names(data="pooled")
}
METHODS = tuple(learners())


def get_learner(method: str) -> Learner:
    """The learner called ``method`` if it learns from pooled activations; raises listing the
    registered names, or saying how to call a learner that needs other data."""
    entry = get_learner_entry(method)
    if entry.spec.data != "pooled":
        raise MlsteerError(
            f"learner {method!r} learns from {entry.spec.data}, not pooled activations; "
            f"call mlsteer.learners.{entry.function.__name__}"
        )
    return entry.function


__all__ = [
    "ACTIVATION_LEARNERS",
    "METHODS",
    "PAPER_MSE",
    "BipoConfig",
    "Diagnostics",
    "LearnResult",
    "Learner",
    "LearnerSpec",
    "MSEConfig",
    "RegisteredLearner",
    "alignment_cosine",
    "check_paired",
    "get_learner",
    "get_learner_entry",
    "heldout_cosines",
    "learn_bipo",
    "learn_lstsq",
    "learn_mean_difference",
    "learn_mse",
    "learn_pca",
    "learner_names",
    "learners",
    "preference_margin",
    "register_learner",
]
