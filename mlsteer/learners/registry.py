"""The learners by name: each learner module registers its function with a :class:`LearnerSpec`
saying what it needs, so pipelines, configs and commands ask the spec instead of testing names.

Adding a learner is one new module in :mod:`mlsteer.learners` whose function is decorated with
``@register_learner(LearnerSpec(...))``; every module of the package is imported on the first
lookup, so nothing else has to list it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from mlsteer.errors import MlsteerError

# Keyword parameters the pipeline fills in itself: not options a config or command may set.
SUPPLIED = frozenset(
    {
        "layer",
        "model_fingerprint",
        "train_hash",
        "heldout",
        "heldout_triples",
        "seed",
        "progress",
        "info",
    }
)


@dataclass(frozen=True)
class LearnerSpec:
    """What a learner needs and yields.

    ``data``: ``pooled`` learners are called ``f(source, goal, *, layer, ...)`` with pooled
    activations at one layer; ``preferences`` learners ``f(data, logprobs, *, ...)`` with
    token-level preference triples and the layers above (see :mod:`.bipo`).
    ``layers``: ``one_pass`` learners learn every layer from one activation pass;
    ``per_layer`` ones need one training run per layer (and cannot steer all layers at once).
    ``output``: a ``vector`` (alpha may be relative to the residual norm) or a ``map``.
    ``presets``: named option sets (e.g. the paper's settings), flat like config options.
    """

    name: str
    summary: str
    data: Literal["pooled", "preferences"] = "pooled"
    layers: Literal["one_pass", "per_layer"] = "one_pass"
    output: Literal["vector", "map"] = "vector"
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def relative_scale(self) -> bool:
        """Whether alphas may be fractions of the residual norm (a map has no such scale)."""
        return self.output == "vector"

    @property
    def one_pass(self) -> bool:
        return self.layers == "one_pass"


@dataclass(frozen=True)
class RegisteredLearner:
    """A learner function with its spec; knows the options it accepts."""

    spec: LearnerSpec
    function: Callable[..., Any]

    @property
    def name(self) -> str:
        return self.spec.name

    def options(self) -> dict[str, tuple[Any, Any]]:
        """Option name -> (type, default): the function's keyword parameters the pipeline does
        not fill in, a dataclass-typed one (a config) standing for its fields."""
        hints = _hints(self.function)
        options: dict[str, tuple[Any, Any]] = {}
        for parameter in _keywords(self.function):
            hint = hints.get(parameter.name, _default_type(parameter))
            if dataclasses.is_dataclass(hint):
                config = parameter.default if dataclasses.is_dataclass(parameter.default) else hint
                types = get_type_hints(hint)
                options |= {
                    f.name: (types[f.name], getattr(config, f.name, f.default))
                    for f in dataclasses.fields(hint)
                }
            else:
                options[parameter.name] = (hint, parameter.default)
        return options

    def keywords(self, options: Mapping[str, Any], preset: str | None = None) -> dict[str, Any]:
        """Flat options (a config's or a command's; those the learner lacks are dropped) as the
        function's keyword arguments: a config dataclass's fields gathered into it. ``preset``
        names one of the spec's presets, which the options override."""
        if preset is not None and preset not in self.spec.presets:
            raise MlsteerError(
                f"learner {self.name!r} has no preset {preset!r}; "
                f"its presets: {', '.join(self.spec.presets) or 'none'}"
            )
        flat = {**(self.spec.presets[preset] if preset else {}), **options}
        if not flat:
            return {}
        hints, kwargs = _hints(self.function), {}
        for parameter in _keywords(self.function):
            hint = hints.get(parameter.name, _default_type(parameter))
            if dataclasses.is_dataclass(hint):
                names = {f.name for f in dataclasses.fields(hint)}
                base = parameter.default if dataclasses.is_dataclass(parameter.default) else hint()
                kwargs[parameter.name] = dataclasses.replace(
                    base, **{k: v for k, v in flat.items() if k in names}
                )
            elif parameter.name in flat:
                kwargs[parameter.name] = flat[parameter.name]
        return kwargs


_REGISTRY: dict[str, RegisteredLearner] = {}
_discovered = False


def register_learner(spec: LearnerSpec) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register the learner function under ``spec.name`` (returned unchanged)."""

    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        known = _REGISTRY.get(spec.name)
        if known is not None and known.function is not function:
            raise MlsteerError(f"two learners are registered as {spec.name!r}")
        _REGISTRY[spec.name] = RegisteredLearner(spec, function)
        return function

    return register


def unregister_learner(name: str) -> None:
    """Forget a learner (for tests that register a toy one)."""
    _REGISTRY.pop(name, None)


def learners() -> dict[str, RegisteredLearner]:
    """Every registered learner by name, sorted (registration order depends on imports)."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def learner_names(**wanted: Any) -> tuple[str, ...]:
    """The names of the learners whose spec has the ``wanted`` values, e.g. ``data="pooled"``."""
    return tuple(
        name
        for name, entry in learners().items()
        if all(getattr(entry.spec, key) == value for key, value in wanted.items())
    )


def get_learner_entry(name: str) -> RegisteredLearner:
    """The learner called ``name``; raises listing the registered ones."""
    found = learners().get(name)
    if found is None:
        raise MlsteerError(f"unknown learner {name!r}; use one of: {', '.join(learners())}")
    return found


def _discover() -> None:
    """Import every module of :mod:`mlsteer.learners` once, so each registers itself."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module("mlsteer.learners")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")


def _keywords(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(function).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in SUPPLIED
    ]


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return get_type_hints(function)
    except (NameError, TypeError):  # an annotation only a type checker sees: use the defaults
        return {}


def _default_type(parameter: inspect.Parameter) -> Any:
    return type(parameter.default) if parameter.default is not parameter.empty else Any
