"""Checks a command runs on its arguments before any model loads: languages, tasks and their
data, corpora, methods, vector files. Each raises :class:`~mlsteer.errors.MlsteerError` naming
the fix; reading a few data files here is cheap next to a model load (seconds to a minute)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlsteer.cli.options import DataSpec, parse_assignments, parse_codes
from mlsteer.errors import MlsteerError

if TYPE_CHECKING:
    from mlsteer.evaluation.methods import Method
    from mlsteer.evaluation.tasks import Task


VECTOR_HINT = "--vector takes FILE, or LANG=VALUE with VALUE a file (e.g. sw=runs/sw.safetensors)"


def languages(specs: str | Sequence[str], option: str = "--langs") -> list[str]:
    """Comma-separated (and repeated) language codes, each one mlsteer knows."""
    from mlsteer.languages import get_language

    codes = parse_codes(list(specs) if not isinstance(specs, str) else specs)
    if not codes:
        raise MlsteerError(f"no languages given; pass {option} sw,zh")
    for code in codes:
        get_language(code)
    return list(dict.fromkeys(codes))


def tasks(names: Sequence[str]) -> list[Task]:
    """The tasks named (built-in or task files), unknown names refused."""
    from mlsteer.evaluation.tasks import get_task

    return [get_task(name) for name in dict.fromkeys(names)]


def task_data(task: Task, langs: Sequence[str], data: DataSpec) -> None:
    """Each language is one of ``task``'s and its items can be read (the data folder, or the Hub)."""
    from mlsteer.languages import check_languages

    check_languages(list(langs), task.languages, task.name)
    for lang in langs:
        task.load(lang, data_dir=data.data_dir, limit=1)


def corpus(
    spec: str | None,
    langs: Sequence[str],
    data: DataSpec,
    goals: Sequence[str] = ("en",),
    preferred: str = "tatoeba",
) -> str:
    """The corpus to read (``spec``, else the default for the data folder), checked to hold
    (``lang``, goal) pairs for every language and goal."""
    from mlsteer.data.corpora import default_corpus, load_pairs

    name = spec or default_corpus(data.data_dir, preferred)
    for lang in langs:
        for goal in goals:
            if goal != lang:
                load_pairs(name, lang, data.data_dir, goal=goal)
    return name


def existing(path: str | Path, what: str, hint: str = "") -> Path:
    """``path`` if something is there, else an error naming ``what`` was expected."""
    path = Path(path).expanduser()
    if not path.exists():
        raise MlsteerError(f"no {what} at {path}" + (f"; {hint}" if hint else ""))
    return path


def vectors(items: Sequence[str], langs: Sequence[str], option: str = "--vector") -> dict[str, str]:
    """``--vector FILE`` (every language) and ``--vector LANG=FILE`` -> ``{lang: file}``, each
    file (or per-language folder entry) present and readable."""
    plain = [item for item in items if "=" not in item]
    chosen = parse_assignments([item for item in items if "=" in item], option)
    if len(plain) > 1:
        raise MlsteerError(
            f"{option} given {len(plain)} files without a language; write LANG=FILE for each"
        )
    for item in plain:
        chosen = dict.fromkeys(langs, item) | chosen
    for lang, source in chosen.items():
        vector_file(source, lang, VECTOR_HINT.replace("--vector", option))
    return chosen


def vector_file(source: str | Path, lang: str | None = None, hint: str = VECTOR_HINT) -> Path:
    """The steering file ``source`` names for ``lang`` (a file, or a folder of ``{lang}.safetensors``),
    read once so a missing or corrupt file fails before the model loads."""
    from mlsteer.steering import load_steering
    from mlsteer.steering.sources import vector_path

    existing(source, "vector file or folder", f"{hint}; learn one with mlsteer learn")
    path = vector_path(source, lang)
    load_steering(path)
    return path


def sft_models(items: Sequence[str]) -> dict[str, str]:
    """``--sft LANG=FOLDER`` -> ``{lang: folder}``, each folder present."""
    folders = parse_assignments(list(items), "--sft")
    for folder in folders.values():
        existing(folder, "fine-tuned model folder", "make one with mlsteer sft")
    return folders


def methods(
    specs: Sequence[str], plan: dict[str, list[str]], controls: bool = True
) -> list[Method]:
    """``--method`` strings -> methods, with what they name checked: ``fewshot:k`` a positive
    count, ``steered:`` files present for every language, ``sft:`` folders present."""
    from mlsteer.evaluation.methods import parse_method

    langs = list(dict.fromkeys(lang for codes in plan.values() for lang in codes))
    for spec in specs:
        name, _, rest = spec.partition(":")
        if name == "fewshot" and rest and not (rest.isdigit() and int(rest) > 0):
            raise MlsteerError(
                f"--method {spec!r}: shots must be a positive whole number, e.g. fewshot:3"
            )
        if name == "sft" and rest:
            existing(rest, "fine-tuned model folder", "make one with mlsteer sft")
        if name == "steered" and rest:
            source = rest.rpartition("@")[0] if "@" in rest else rest
            for lang in langs:
                vector_file(
                    source,
                    lang,
                    "write --method steered:FILE@ALPHA, FILE a vector file or a folder of {lang}.safetensors",
                )
    return [method for spec in specs for method in parse_method(spec, controls=controls)]


def langs_per_task(specs: Sequence[str], task: str) -> list[str]:
    """``["sw,zh"]`` or ``["xcopa=sw,it", "xnli=sw"]`` -> the languages for ``task``."""
    chosen: list[str] = []
    for spec in specs:
        name, sep, codes = spec.partition("=")
        if not sep:
            codes, name = spec, task
        if name == task:
            chosen.extend(languages(codes))
    if not chosen:
        raise MlsteerError(
            f"no languages given for {task}; pass --langs sw,zh or --langs {task}=sw,zh"
        )
    return list(dict.fromkeys(chosen))
