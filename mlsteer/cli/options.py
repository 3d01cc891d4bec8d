"""Options shared by several commands (one definition each), option bundles, small parsers.

Importing this module imports neither torch nor transformers: ``mlsteer --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_MODEL = (
    "gemma-3-270m"  # mlsteer.models.embedded_gemma.EMBEDDED_NAME (a test keeps them equal)
)
MODEL_HELP = "Built-in name (gemma-3-270m, tiny-gemma3, tiny-llama), local HF folder or Hub id."
ModelOption = typer.Option(DEFAULT_MODEL, "--model", "-m", help=MODEL_HELP)
DeviceOption = typer.Option(
    "cpu", "--device", help="cpu (default), cuda, cuda:N or auto (the GPU if there is one)."
)
DtypeOption = typer.Option(
    "float32", "--dtype", help="Weights dtype: float32 (default), bfloat16 or float16."
)
DataDirOption = typer.Option(
    None,
    "--data-dir",
    exists=True,
    file_okay=False,
    help="Benchmark folder (else $MLSTEER_DATA, else the Hub).",
)
SeedOption = typer.Option(
    0, "--seed", help="Seed for sampling, splitting, shots, controls and training."
)
LangsOption = typer.Option(
    ..., "--langs", help="Comma-separated language codes (ISO 639-1), e.g. sw,zh,es."
)
LimitOption = typer.Option(
    None, "--limit", min=1, help="Items per language (and split), a seeded sample."
)
# Learner names come from the registry, which imports torch: `mlsteer info` lists them with what
# each needs, and a wrong name is refused with the list.
LEARNER_HELP = "A registered learner (mlsteer info lists them, with what each needs)."
LearnerOption = typer.Option("mse", "--learner", help=LEARNER_HELP)
TrainPairsOption = typer.Option(200, "--pairs", "-n", min=1, help="Training pairs per vector.")
BatchSizeOption = typer.Option(8, "--batch-size", min=1, help="Items per batch.")
AlphaOption = typer.Option(1.0, "--alpha", help="Multiplier of the vectors.")
VectorsOption = typer.Option(
    [], "--vector", help="Repeatable: FILE (every language) or LANG=FILE (that language)."
)
SftOption = typer.Option(
    [], "--sft", help="Repeatable LANG=FOLDER: also a model made by mlsteer sft."
)
TASK_HELP = "cloze (built-in), xcopa, xnli, m_mmlu, m3exam, or a task file (.jsonl, .yaml)"
TasksOption = typer.Option(..., "--task", help=f"Repeatable: {TASK_HELP}.")


def out_option(help: str, default: Any = ...) -> Any:
    """``--out``: the folder a command writes (``help`` says what goes in it)."""
    return typer.Option(default, "--out", file_okay=False, help=help)


def corpus_option(note: str = "") -> Any:
    """``--corpus``: default tatoeba when a data folder is known, else builtin."""
    return typer.Option(
        None,
        "--corpus",
        help="tatoeba, msvamp, builtin, or your own: a TSV file with a header "
        '(en<TAB>sw), a JSONL file ({"en": ..., "sw": ...}), EN_FILE,LANG_FILE (line-aligned) '
        "or hf:ID[:CONFIG]. Default: " + (note or "tatoeba with a data folder, else builtin."),
    )


def pairs_option(default: int, help: str = "Pairs sampled from the corpus.") -> Any:
    return typer.Option(default, "--pairs", "-n", min=1, help=help)


def deprecated(*names: str) -> Any:
    """A hidden old spelling kept working (e.g. ``--lang`` for ``--langs``)."""
    return typer.Option(None, *names, hidden=True)


@dataclass(frozen=True)
class ModelSpec:
    """``--model/--device/--dtype`` of a command."""

    name: str = DEFAULT_MODEL
    device: str = "cpu"
    dtype: str = "float32"

    def check(self) -> ModelSpec:
        """Raise on an unknown model, device or dtype (cuda without a GPU too) before any load.
        Imports torch, so commands run their torch-free checks (languages, tasks, data) first."""
        from mlsteer.models.devices import parse_dtype, resolve_device
        from mlsteer.models.loading import parse_model_id

        parse_model_id(self.name)
        resolve_device(self.device)
        parse_dtype(self.dtype)
        return self


@dataclass(frozen=True)
class DataSpec:
    """``--data-dir/--seed`` of a command."""

    data_dir: Path | None = None
    seed: int = 0


_BUNDLES: dict[type, dict[str, tuple[Any, Any]]] = {
    ModelSpec: {
        "name": (str, ModelOption),
        "device": (str, DeviceOption),
        "dtype": (str, DtypeOption),
    },
    DataSpec: {"data_dir": (Path | None, DataDirOption), "seed": (int, SeedOption)},
}


def bundled(func: F) -> F:
    """Replace a command's keyword-only ``ModelSpec`` / ``DataSpec`` parameters by their options
    (one definition for every command); the command receives them as one object each."""
    signature = inspect.signature(func, eval_str=True)
    kept, added, bundles = [], [], {}
    for param in signature.parameters.values():
        options = _BUNDLES.get(param.annotation)
        if options is None:
            kept.append(param)
            continue
        bundles[param.name] = param.annotation
        added += [
            inspect.Parameter(
                f"{param.name}__{key}",
                inspect.Parameter.KEYWORD_ONLY,
                default=info,
                annotation=kind,
            )
            for key, (kind, info) in options.items()
        ]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for name, cls in bundles.items():
            kwargs[name] = cls(**{f.name: kwargs.pop(f"{name}__{f.name}") for f in fields(cls)})
        return func(*args, **kwargs)

    parameters = kept + added
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {
        "return": signature.return_annotation
    }
    return wrapper  # type: ignore[return-value]


def parse_layers(spec: str, n_layers: int) -> list[int]:
    """``"6"``, ``"4,6,8"``, ``"2-5"``, ``"0-17:2"`` (every second) or ``"all"`` -> layer indices."""
    from mlsteer.errors import MlsteerError

    if spec.strip() == "all":
        return list(range(n_layers))
    layers: list[int] = []
    for part in spec.split(","):
        part, _, step = part.strip().partition(":")
        try:
            if "-" in part[1:]:
                low, high = part.split("-", 1)
                layers.extend(range(int(low), int(high) + 1, int(step or 1)))
            else:
                layers.append(int(part))
        except ValueError:
            raise MlsteerError(
                f"cannot read layers {spec!r}; write e.g. 6, 4,6,8, 2-5, 0-17:2 or all"
            ) from None
    return layers


def parse_codes(spec: str | list[str]) -> list[str]:
    """``"sw, zh,es"`` (or several such) -> ``["sw", "zh", "es"]``."""
    specs = [spec] if isinstance(spec, str) else spec
    return [code.strip() for item in specs for code in item.split(",") if code.strip()]


def parse_floats(spec: str) -> list[float]:
    """``"0.5,1,2"`` -> ``[0.5, 1.0, 2.0]``."""
    from mlsteer.errors import MlsteerError

    try:
        return [float(value) for value in parse_codes(spec)]
    except ValueError:
        raise MlsteerError(f"cannot read numbers {spec!r}; write e.g. 0.5,1,2") from None


def parse_assignments(items: list[str], option: str) -> dict[str, str]:
    """Repeated ``LANG=VALUE`` options -> ``{lang: value}``."""
    from mlsteer.errors import MlsteerError

    pairs = {}
    for item in items:
        lang, sep, value = item.partition("=")
        if not sep or not lang.strip() or not value.strip():
            raise MlsteerError(
                f"{option} {item!r}: write LANG=VALUE, e.g. {option} sw=runs/sw.safetensors"
            )
        pairs[lang.strip()] = value.strip()
    return pairs
