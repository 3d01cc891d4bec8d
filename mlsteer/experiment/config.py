"""The experiment config (TOML): what to learn, sweep, evaluate and analyse, and where.

A config runs on built-in data by default (the shipped parallel corpus and the ``cloze``
task). Its ``[with_data]`` table says what to use instead when a benchmark folder is given
(``--data-dir`` / ``$MLSTEER_DATA``), so one file serves the offline demo and the real run.
``corpus`` and the task names may be the user's own files (``corpus = "pairs.tsv"``,
``tasks = ["mytask.yaml"]``); relative paths are resolved against the config file's folder.
Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

from mlsteer.data.corpora import CORPORA, check_corpus
from mlsteer.errors import MlsteerError
from mlsteer.experiment.validate import (
    check_at_least,
    check_learner_options,
    check_not_empty,
    check_table,
)
from mlsteer.languages import get_language
from mlsteer.learners import get_learner_entry, learner_names, learners


@dataclass(frozen=True)
class LearnerConfig:
    """One learner: which layers and alphas its sweep tries, how its vectors are applied, and
    learner options. ``label`` names its files and rows (two settings of one learner, e.g. BiPO
    with the paper's lr and with lr scaled by the residual RMS, need two labels)."""

    name: str
    label: str | None = None  # None: the learner's name
    layers: list[int] | None = None  # None: the sweep's layers
    alphas: list[float] | None = None  # None: the sweep's alphas
    pairs: int | None = None  # None: the corpus's pairs
    # None: the data table's corpus (e.g. msvamp: task-like question pairs)
    corpus: str | None = None
    # None: the run's; fewer when the learner's corpus lacks some
    languages: list[str] | None = None
    positions: str = "all"  # all | prompt (steer the prompt only, not generated tokens)
    # absolute | relative (alphas as fractions of the layer's residual norm)
    scale: str = "absolute"
    # steer at every one of `layers` at once (INCLINE); the sweep then tries alphas only
    all_layers: bool = False
    options: dict[str, Any] = field(default_factory=dict)  # e.g. epochs, lr (BipoConfig fields)

    @property
    def key(self) -> str:
        """What names its sweep folder, vector files and steered rows."""
        return self.label or self.name


@dataclass(frozen=True)
class DataConfig:
    """What the run uses: the training corpus, the task the layer is chosen on, the tasks."""

    corpus: str = "builtin"
    pairs: int = 200
    sweep_task: str = "cloze"
    tasks: list[str] = field(default_factory=lambda: ["cloze"])
    # task -> languages (default: all that fit)
    task_languages: dict[str, list[str]] = field(default_factory=dict)
    # task -> items per language (default: limit)
    task_limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    out: Path
    languages: list[str]
    model: str = "gemma-3-270m"
    device: str = "cpu"  # cpu, cuda, cuda:N or auto; not part of a run's identity (a run may resume elsewhere)
    # float32, bfloat16 or float16; part of its identity (it changes the numbers)
    dtype: str = "float32"
    seed: int = 0
    learners: list[LearnerConfig] = field(default_factory=lambda: [LearnerConfig("mse")])
    layers: list[int] = field(default_factory=lambda: [6])
    alphas: list[float] = field(default_factory=lambda: [1.0])
    sweep_limit: int | None = None  # items per split in the sweep
    sweep_test_grid: bool = False  # also score every cell on test (figure only; slower)
    methods: list[str] = field(default_factory=lambda: ["basic", "fewshot", "translate_test"])
    limit: int | None = None  # items per language in the evaluation
    max_new_tokens: int = 128
    data: DataConfig = field(default_factory=DataConfig)
    with_data: DataConfig | None = None
    similarity: list[str] = field(default_factory=list)  # languages; [] = skip
    lens: list[str] = field(default_factory=list)
    wendler: list[str] = field(default_factory=list)
    pca_layer: int | None = None  # None = skip
    # tasks: each language's vector on every run language and English (Fig. 3, Table 4)
    transfer: list[str] = field(default_factory=list)
    analysis_texts: int = 20

    def resolved(self, has_data: bool) -> DataConfig:
        """The data section in force: ``with_data`` when a benchmark folder is given."""
        return self.with_data if has_data and self.with_data is not None else self.data

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


BUILTIN_CONFIGS = ("demo", "paper")


def config_path(name_or_path: str | os.PathLike) -> Path:
    """A config file path, or a built-in config's name (``demo``, ``paper``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if str(name_or_path) in BUILTIN_CONFIGS:
        return Path(str(files("mlsteer.configs").joinpath(f"{name_or_path}.toml")))
    raise MlsteerError(
        f"no config file {name_or_path}; pass a TOML file or a built-in name: {', '.join(BUILTIN_CONFIGS)}"
    )


def load_config(
    name_or_path: str | os.PathLike, out: str | os.PathLike | None = None
) -> ExperimentConfig:
    """Read and check a config; ``out`` overrides its output folder."""
    path = config_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise MlsteerError(f"{path}: not valid TOML ({error})") from None
    return parse_config(raw, where=str(path), out=out, base=path.parent)


def parse_config(
    raw: dict[str, Any],
    where: str = "config",
    out: str | os.PathLike | None = None,
    base: str | os.PathLike | None = None,
) -> ExperimentConfig:
    """A checked config from its TOML table; ``base`` is the folder relative corpus and task file
    paths are resolved against (the config file's; None: the current folder)."""
    raw = dict(raw)
    tables = {"learners", "data", "with_data"}
    top = _fields(ExperimentConfig) - tables
    _check_keys(raw, top | tables, where)
    for key in ("name", "out", "languages"):
        if key not in raw and not (key == "out" and out is not None):
            raise MlsteerError(f"{where}: missing required key {key!r}")
    check_table(
        raw, ExperimentConfig, where, skip=frozenset(tables)
    )  # types, before any model loads
    for key in ("data", "with_data"):
        if not isinstance(raw.get(key, {}), dict):
            raise MlsteerError(
                f"{where}: {key} must be a table ([{key}] on its own line, then its keys)"
            )
    if not isinstance(raw.get("learners", []), list) or not all(
        isinstance(entry, dict) for entry in raw.get("learners", [])
    ):
        raise MlsteerError(
            f'{where}: learners must be an array of tables: [[learners]] then name = "mse" (one block per learner)'
        )
    learners = [
        _learner(entry, f"{where} [[learners]] #{i + 1}", base)
        for i, entry in enumerate(raw.pop("learners", [{"name": "mse"}]))
    ]
    data = _data(raw.pop("data", {}), f"{where} [data]", base)
    with_data = (
        _data(raw.pop("with_data"), f"{where} [with_data]", base) if "with_data" in raw else None
    )
    raw["out"] = Path(out) if out is not None else Path(raw["out"])
    config = ExperimentConfig(learners=learners, data=data, with_data=with_data, **raw)
    _check(config, where)
    return config


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(raw: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise MlsteerError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _learner(entry: dict, where: str, base: str | os.PathLike | None = None) -> LearnerConfig:
    from mlsteer.data.user_corpus import resolve_corpus

    entry = dict(entry)
    if "name" not in entry:
        raise MlsteerError(f"{where}: a learner needs a name ({', '.join(learners())})")
    known = _fields(LearnerConfig) - {"options"}
    options = {k: entry.pop(k) for k in list(entry) if k not in known}
    try:
        registered = get_learner_entry(entry["name"])
    except MlsteerError as error:
        raise MlsteerError(f"{where}: {error}") from None
    check_table(entry, LearnerConfig, where)
    check_learner_options(registered, options, where)
    check_at_least(where, 1, pairs=entry.get("pairs"))
    check_at_least(where, 0, layers=entry.get("layers"))
    check_not_empty(
        where,
        layers=entry.get("layers"),
        alphas=entry.get("alphas"),
        languages=entry.get("languages"),
    )
    learner = LearnerConfig(options=options, **entry)
    if learner.corpus is not None and learner.corpus not in CORPORA:
        learner = dataclasses.replace(learner, corpus=resolve_corpus(learner.corpus, base))
    if learner.positions not in ("all", "prompt"):
        raise MlsteerError(f"{where}: positions {learner.positions!r}; use all or prompt")
    if learner.scale not in ("absolute", "relative"):
        raise MlsteerError(
            f"{where}: scale {learner.scale!r}; use absolute or relative (alphas as fractions of the residual norm)"
        )
    spec = registered.spec
    if learner.scale == "relative" and not spec.relative_scale:
        raise MlsteerError(
            f"{where}: {spec.name} learns a {spec.output}, which has no relative scale; "
            'use scale = "absolute"'
        )
    if learner.all_layers and not spec.one_pass:
        raise MlsteerError(
            f"{where}: {spec.name} trains one layer per run; all_layers is for learners that learn "
            f"every layer from one pass ({', '.join(learner_names(layers='one_pass'))})"
        )
    if learner.label is not None and not re.fullmatch(r"[A-Za-z0-9][\w.-]*", learner.label):
        raise MlsteerError(
            f"{where}: label {learner.label!r} names files; use letters, digits, '-', '_' or '.'"
        )
    return learner


def _data(entry: dict, where: str, base: str | os.PathLike | None = None) -> DataConfig:
    """The data table, with relative corpus and task file paths joined to ``base``."""
    from mlsteer.data.user_corpus import resolve_corpus
    from mlsteer.evaluation.tasks.custom import resolve_task

    _check_keys(entry, _fields(DataConfig), where)
    check_table(entry, DataConfig, where)
    check_at_least(
        where, 1, pairs=entry.get("pairs"), task_limits=list(entry.get("task_limits", {}).values())
    )
    data = DataConfig(**entry)
    task = partial(resolve_task, base=base)
    return dataclasses.replace(
        data,
        corpus=data.corpus if data.corpus in CORPORA else resolve_corpus(data.corpus, base),
        sweep_task=task(data.sweep_task),
        tasks=[task(name) for name in data.tasks],
        task_languages={task(name): langs for name, langs in data.task_languages.items()},
        task_limits={task(name): limit for name, limit in data.task_limits.items()},
    )


def _check(config: ExperimentConfig, where: str) -> None:
    from mlsteer.evaluation.tasks import get_task

    for code in config.languages + config.similarity + config.lens + config.wendler:
        get_language(code)  # unknown code: error listing the known ones
    from mlsteer.models.devices import DEVICES, parse_dtype

    parse_dtype(config.dtype)  # unknown dtype: error listing the known ones
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", config.device):
        raise MlsteerError(
            f"{where}: unknown device {config.device!r}; use one of: {', '.join(DEVICES)}"
        )
    if not config.languages:
        raise MlsteerError(f"{where}: languages is empty; name at least one language to steer")
    check_at_least(
        where,
        1,
        limit=config.limit,
        sweep_limit=config.sweep_limit,
        max_new_tokens=config.max_new_tokens,
        analysis_texts=config.analysis_texts,
    )
    check_at_least(where, 0, layers=config.layers, pca_layer=config.pca_layer)
    check_not_empty(where, layers=config.layers, alphas=config.alphas)
    for data in filter(None, (config.data, config.with_data)):
        check_corpus(data.corpus)
        for name in [data.sweep_task, *data.tasks, *data.task_languages]:
            get_task(name)
        if get_task(data.sweep_task).kind != "choice":
            raise MlsteerError(
                f"{where}: sweep_task {data.sweep_task!r} generates text; choose layers on a multiple-choice task"
            )
    for name in config.transfer:
        if get_task(name).kind != "choice":
            raise MlsteerError(
                f"{where}: transfer task {name!r} generates text; transfer matrices are for multiple-choice tasks"
            )
    keys = [learner.key for learner in config.learners]
    if len(set(keys)) != len(keys):
        raise MlsteerError(
            f"{where}: two learners share the name {max(keys, key=keys.count)!r}; give each a distinct label"
        )
    for learner in config.learners:
        if learner.corpus is not None:
            check_corpus(learner.corpus)
        for code in learner.languages or []:
            get_language(code)
            if code not in config.languages:
                raise MlsteerError(
                    f"{where}: learner {learner.key!r} names {code!r}, which is not in the run's languages"
                )
