"""Evaluation methods: how a task item becomes what the model sees, and what is active meanwhile.

Named and composable from strings (``--method``):

==============================  ====================================================================
``basic``                       the task's zero-shot prompt in the item's language
``fewshot[:k]``                 k (default 5) solved items from the task's few-shot split, same
                                language, never the evaluated item, seeded
``xlt``                         the XLT template (Huang et al. 2023): act as an expert for {lang},
                                retell the request in English, answer step by step, fixed format
``self_translate``              the model translates the item to English, then answers in English
``translate_test[:T]``          T = ``oracle`` (human English of parallel items, default), ``nllb``
                                (or ``nllb=PATH``); translations cached in the run folder
``sft:FOLDER``                   a fine-tuned copy of the model (``mlsteer sft``)
``steered:FILE@ALPHA``          a vector file, or a folder of ``{lang}.safetensors`` (a language-to-
                                vector map), applied with ``alpha``; ``:negated`` / ``:random`` are
                                the controls (the runner adds both unless told not to)
==============================  ====================================================================

Each method class registers its name and syntax with ``@register_method``; a new method is one
class and its registration.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from mlsteer import distributed
from mlsteer.errors import MlsteerError, check_choice
from mlsteer.evaluation.fingerprints import (
    Fingerprint,
    examples_digest,
    folder_digest,
    sha256_bytes,
    steering_sha256,
)
from mlsteer.evaluation.tasks.base import Example, Query, Task
from mlsteer.evaluation.translation import (
    CachedTranslator,
    NLLBTranslator,
    SelfTranslator,
    Translator,
)
from mlsteer.languages import get_language
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering import steer
from mlsteer.steering.hooks import SCALES
from mlsteer.steering.sources import CONTROLS, checked_entries, with_control


class Method(ABC):
    """One way of evaluating. ``setup`` runs once per (task, language) before any item.

    :meth:`fingerprint` says what makes the method's rows for a language besides the run's own
    settings: the store resumes a cell only when it is unchanged (see
    :mod:`mlsteer.evaluation.fingerprints`). A method whose prompts change in code bumps its
    ``method_version`` (a task's prompts: ``Task.prompt_version``)."""

    name: str
    method_version = "1"

    def setup(  # noqa: B027  # an optional hook: most methods need nothing
        self, model: SteerableModel, task: Task, lang: str, data_dir, seed: int, run_dir: Path
    ) -> None:
        """Load what the method needs for ``lang`` and check it (errors before anything is written)."""

    def fingerprint(self, lang: str) -> Fingerprint:
        """What produces this method's rows for ``lang`` (called after :meth:`setup`): plain
        JSON values, compared key by key; the run's part (model, items...) is added by the runner."""
        return {"kind": type(self).__qualname__, "method_version": self.method_version}

    def origin(self, lang: str) -> str:
        """Where the method comes from, for messages (a vector file, a model folder)."""
        return self.name

    @classmethod
    def from_spec(cls, rest: str, controls: bool) -> list[Method]:
        """The methods ``--method NAME:REST`` stands for (most take no ``REST``)."""
        return [cls()]

    @abstractmethod
    def queries(
        self, model: SteerableModel, task: Task, examples: Sequence[Example]
    ) -> list[Query]:
        """What the model sees for each example."""

    def active(self, model: SteerableModel, lang: str):
        """A context manager active while the model runs (steering, for steered methods)."""
        return nullcontext()

    def model_for(self, model: SteerableModel) -> SteerableModel:
        """The model that answers (another one for SFT); rows stay filed under ``model``."""
        return model

    def state(self, lang: str) -> Hashable:
        """What is active while the model answers ``lang`` (after ``setup``). The runner puts
        items of (language, method) cells with equal states and answering models into the same
        batches; ``()`` is the model as loaded."""
        return ()

    def length_hint(self, task: Task, example: Example) -> int:
        """Characters of the prompt, for batching items of similar length without running the
        model (methods whose prompt needs the model estimate it)."""
        return len(self.queries(None, task, [example])[0].context)


MethodType = TypeVar("MethodType", bound=type[Method])
_METHODS: dict[str, tuple[str, type[Method]]] = {}  # --method name -> (syntax, class)


def register_method(name: str, syntax: str) -> Callable[[MethodType], MethodType]:
    """Class decorator: ``--method name[:rest]`` builds ``cls.from_spec(rest, controls)``;
    ``syntax`` is how the spec is written, for messages."""

    def register(cls: MethodType) -> MethodType:
        _METHODS[name] = (syntax, cls)
        return cls

    return register


def method_syntaxes() -> list[str]:
    """How each registered method is written (``fewshot[:k]``...), in registration order."""
    return [syntax for syntax, _ in _METHODS.values()]


@register_method("basic", "basic")
class Basic(Method):
    name = "basic"

    def queries(self, model, task, examples):
        return [task.render(example) for example in examples]


@register_method("fewshot", "fewshot[:k]")
class FewShot(Method):
    def __init__(self, k: int = 5) -> None:
        self.k = k
        self.name = f"fewshot{k}" if k != 5 else "fewshot"
        self.pools: dict[tuple[str, str], list[Example]] = {}  # (task, language) -> shot pool
        self.seed = 0
        self.task_name = ""  # the task of the last setup (fingerprints are per call, one task)

    @classmethod
    def from_spec(cls, rest, controls):
        return [cls(int(rest) if rest else 5)]

    def setup(self, model, task, lang, data_dir, seed, run_dir):
        pool = task.load(lang, split=task.fewshot_split, data_dir=data_dir)
        self.pools[(task.name, lang)] = pool
        self.task_name = task.name
        self.seed = seed
        if len(pool) < self.k + 1:
            raise MlsteerError(
                f"{task.name} {lang} has {len(pool)} few-shot examples; {self.k} shots need {self.k + 1}"
            )

    def fingerprint(self, lang):
        return {
            **super().fingerprint(lang),
            "k": self.k,
            "shot_seed": self.seed,
            "shot_pool_sha256": examples_digest(self.pools[(self.task_name, lang)]),
        }

    def shots(self, task: Task, example: Example) -> list[Example]:
        """k pool items of the example's task and language, never the evaluated one (same id
        or same text), seeded per item."""
        pool = self.pools[(task.name, example.lang)]
        candidates = [
            p for p in pool if p.id != example.id and dict(p.fields) != dict(example.fields)
        ]
        return random.Random(f"{self.seed}:{example.id}").sample(candidates, self.k)

    def queries(self, model, task, examples):
        out = []
        for example in examples:
            shots = "\n\n".join(
                task.render(s).context + task.answer_text(s) for s in self.shots(task, example)
            )
            query = task.render(example)
            out.append(Query(f"{shots}\n\n{query.context}", query.continuations))
        return out


@register_method("xlt", "xlt")
class XLT(Method):
    """Cross-lingual-thought prompting (Huang et al. 2023, "Not All Languages Are Created Equal
    in LLMs"): the request in its language inside an English instruction template."""

    name = "xlt"
    TEMPLATE = (
        "I want you to act as a {description} expert for {language}.\n"
        "{language} request: {request}\n"
        "You should retell the request in English.\n"
        "You should do the {description} task.\n"
        "You should step-by-step answer the request.\n"
        "You should tell me the answer in this format '{answer_format}'.\n"
    )

    def fingerprint(self, lang):
        return {
            **super().fingerprint(lang),
            "template_sha256": sha256_bytes(self.TEMPLATE.encode("utf-8")),
        }

    def queries(self, model, task, examples):
        out = []
        for example in examples:
            plain = task.render(example)
            prompt = self.TEMPLATE.format(
                description=task.description or task.name,
                language=get_language(example.lang).name,
                request=task.request_text(example),
                answer_format=task.answer_format or "Answer: <answer>",
            )
            lead = "Answer:" if plain.continuations else "Answer: step by step,"
            out.append(Query(prompt + lead, tuple(" " + c.strip() for c in plain.continuations)))
        return out


@register_method("translate_test", "translate_test[:oracle|nllb|nllb=PATH]")
class TranslateTest(Method):
    """Translate the item to English, then use the task's English prompt."""

    @classmethod
    def from_spec(cls, rest, controls):
        return [cls(rest or "oracle")]

    def __init__(self, translator: str = "oracle") -> None:
        self.translator_spec = translator
        self.name = (
            f"translate_test:{translator.split('=')[0]}"
            if translator != "oracle"
            else "translate_test"
        )
        self.translator: Translator | None = None

    def setup(self, model, task, lang, data_dir, seed, run_dir):
        if self.translator_spec == "oracle":
            return
        kind, _, path = self.translator_spec.partition("=")
        if kind == "nllb":
            inner: Translator = NLLBTranslator(
                path or "facebook/nllb-200-distilled-600M", device=str(model.device)
            )
        elif kind == "self":
            inner = SelfTranslator(model)
        else:
            raise MlsteerError(
                f"unknown translator {kind!r}; use one of: oracle, nllb, nllb=PATH, self"
            )
        # under torchrun each rank translates its own items: one cache file per rank, one writer per file
        rank = f".rank{distributed.rank()}" if distributed.world_size() > 1 else ""
        self.translator = CachedTranslator(
            inner, run_dir / "translations" / f"{inner.name}{rank}.jsonl"
        )

    def fingerprint(self, lang):
        return {**super().fingerprint(lang), "translator": self.translator_spec}

    def to_english(self, task: Task, examples: Sequence[Example]) -> list[Example]:
        if self.translator is None:
            missing = [e.id for e in examples if e.english is None]
            if missing:
                raise MlsteerError(
                    f"{task.name} has no human English version of {examples[0].lang} items (e.g. {missing[0]}); "
                    "oracle translate-test needs a parallel benchmark (mgsm, xnli, msvamp): use translate_test:nllb"
                )
            return [replace(e.english, id=e.id, gold=e.gold) for e in examples]
        # Fields an item lacks (M3Exam has 2-8 options) or leaves empty are not sent.
        wanted = [
            (i, f)
            for i, e in enumerate(examples)
            for f in task.translatable
            if e.fields.get(f, "").strip()
        ]
        english = self.translator.translate(
            [examples[i].fields[f] for i, f in wanted], examples[0].lang
        )
        fields = [dict(e.fields) for e in examples]
        for (i, f), text in zip(wanted, english, strict=True):
            fields[i][f] = text
        return [replace(e, lang="en", fields=fields[i]) for i, e in enumerate(examples)]

    def queries(self, model, task, examples):
        return [task.render(e) for e in self.to_english(task, examples)]

    def length_hint(self, task, example):
        if (
            self.translator is not None
        ):  # a model translates: its English is about as long as the item
            return len(task.render(example).context)
        return super().length_hint(task, example)


@register_method("self_translate", "self_translate")
class SelfTranslate(TranslateTest):
    """Self-translation (Etxaniz et al. 2023): the same model translates, then answers."""

    @classmethod
    def from_spec(cls, rest, controls):
        return [cls()]

    def __init__(self) -> None:
        super().__init__("self")
        self.name = "self_translate"


@register_method("steered", "steered:FILE@ALPHA[:negated|:random]")
class Steered(Method):
    """Apply a vector (or a per-language vector map) while scoring; ``control`` picks the
    vector itself, its negation, or a random vector of the same norm (seeded). ``layer`` keeps
    only that entry of a multi-layer file; ``label`` replaces the file stem in the name.
    ``positions`` (``all`` or ``prompt``) and ``scale`` (``absolute``, or ``relative``: alpha as
    a fraction of the layer's residual norm) go to :func:`~mlsteer.steering.steer`."""

    def __init__(
        self,
        source: str,
        alpha: float,
        control: str = "",
        layer: int | None = None,
        label: str = "",
        positions: str = "all",
        scale: str = "absolute",
    ) -> None:
        if control not in CONTROLS:
            raise MlsteerError(f"unknown control {control!r}; use negated or random")
        check_choice("positions", positions, ("all", "prompt"))
        check_choice("scale", scale, SCALES)
        self.source, self.alpha, self.control, self.layer = Path(source), alpha, control, layer
        self.positions, self.scale = positions, scale
        at = f"/L{layer}" if layer is not None else ""
        how = ("/prompt" if positions == "prompt" else "") + ("/rel" if scale == "relative" else "")
        self.name = f"steered:{label or self.source.stem}{at}{how}@{alpha:g}" + (
            f":{control}" if control else ""
        )
        self.items: dict[str, list] = {}
        self.paths: dict[str, Path] = {}
        self.digests: dict[
            str, str
        ] = {}  # language -> sha256 of the file's entries (steering_sha256)
        self.seeds: dict[str, int] = {}

    @classmethod
    def from_spec(cls, rest, controls):
        source, at, alpha = rest.rpartition("@") if "@" in rest else (rest, "", "1")
        control = ""
        if ":" in alpha:
            alpha, _, control = alpha.partition(":")
        if not source:
            raise MlsteerError(
                f"steered method 'steered:{rest}' names no vector; write steered:FILE@ALPHA"
            )
        try:
            value = float(alpha)
        except ValueError:
            raise MlsteerError(f"alpha {alpha!r} in 'steered:{rest}' is not a number") from None
        if control or not controls:
            return [cls(source, value, control)]
        return [
            cls(source, value),
            cls(source, value, "negated"),
            cls(source, value, "random"),
        ]

    def setup(self, model, task, lang, data_dir, seed, run_dir):
        # another model's vector, a missing language file or layer: refused before anything is written
        path, stored = checked_entries(model, self.source, lang, self.layer)
        self.items[lang] = with_control(stored, self.control, seed)
        self.paths[lang] = path.resolve()
        self.digests[lang] = steering_sha256(stored)  # the entries as stored, before any control
        self.seeds[lang] = seed

    def fingerprint(self, lang):
        return {
            **super().fingerprint(lang),
            "vector_sha256": self.digests[lang],
            "alpha": self.alpha,
            "control": self.control or "vector",
            "control_seed": self.seeds[lang] if self.control == "random" else None,
            "layer": self.layer,
            "positions": self.positions,
            "scale": self.scale,
        }

    def origin(self, lang):
        return str(self.paths.get(lang, self.source))

    def queries(self, model, task, examples):
        return [task.render(example) for example in examples]

    def state(self, lang):
        # one file serving several languages is one state; controls are seeded the same for all
        return (
            "steered",
            self.paths[lang],
            self.layer,
            self.control,
            self.alpha,
            self.positions,
            self.scale,
        )

    @contextmanager
    def active(self, model, lang) -> Iterator[None]:
        with steer(
            model, self.items[lang], alpha=self.alpha, positions=self.positions, scale=self.scale
        ):
            yield


@register_method("sft", "sft:FOLDER")
class SFT(Method):
    """A fine-tuned copy of the model (``mlsteer sft`` writes one), evaluated like ``basic``."""

    @classmethod
    def from_spec(cls, rest, controls):
        if not rest:
            raise MlsteerError("sft names no folder; write sft:FOLDER (made by mlsteer sft)")
        return [cls(rest)]

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.name = f"sft:{self.folder.name}"
        self.model: SteerableModel | None = None
        self.weights = ""  # digest of the folder's files (set by setup)

    def setup(self, model, task, lang, data_dir, seed, run_dir):
        if self.model is None:
            from mlsteer.models import load_model

            if not self.folder.is_dir():
                raise MlsteerError(
                    f"no fine-tuned model at {self.folder}; make one with mlsteer sft -o {self.folder}"
                )
            self.model = load_model(str(self.folder), device=str(model.device))
            self.weights = folder_digest(self.folder)

    def fingerprint(self, lang):
        return {**super().fingerprint(lang), "weights": self.weights}

    def origin(self, lang):
        return str(self.folder.resolve())

    def queries(self, model, task, examples):
        return [task.render(example) for example in examples]

    def model_for(self, model):
        return self.model or model

    def state(self, lang):
        return ("sft", self.folder.resolve())


def parse_method(spec: str, controls: bool = True) -> list[Method]:
    """One ``--method`` string -> methods (a steered spec brings its two controls by default)."""
    name, _, rest = spec.partition(":")
    if name not in _METHODS:
        raise MlsteerError(f"unknown method {spec!r}; use one of: {', '.join(method_syntaxes())}")
    return _METHODS[name][1].from_spec(rest, controls)
