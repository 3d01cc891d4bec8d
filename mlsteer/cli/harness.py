"""``mlsteer harness``: lm-evaluation-harness's CLI with ``--model mlsteer`` (a steered model).

mlsteer's options become ``--model_args``; every other option goes to the harness unchanged
(``--tasks``, ``--limit``, ``--num_fewshot``, ``--output_path``...). With a benchmark folder
(``--data-dir`` or ``$MLSTEER_DATA``) the local tasks ``xcopa_local_{lang}`` / ``xnli_local_{lang}``
are added through ``--include_path``. lm_eval is imported only when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import no_type_check

import typer

from mlsteer.cli.options import DataSpec, ModelSpec
from mlsteer.errors import MlsteerError

CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True}
INSTALL_HINT = "lm-evaluation-harness is not installed; run pip install 'mlsteer[harness]'"


# typer hands over its vendored click Context, not an instance of ``typer.Context`` (the annotation
# only tells typer where to put it), so the test-time type checker is told to skip this one signature.
@no_type_check
def harness(
    ctx: typer.Context,
    vector: str | None = typer.Option(
        None,
        "--vector",
        "-v",
        help="Steering FILE or FOLDER of {lang}.safetensors, or LANG=FILE / LANG=FOLDER.",
    ),
    lang: str | None = typer.Option(
        None,
        "--lang",
        help="Language picking the file of a vector folder (or write --vector LANG=FOLDER).",
    ),
    alpha: float = typer.Option(1.0, "--alpha", help="Multiplier of the vector."),
    control: str = typer.Option("none", help="none, negated or random (same norm, seeded)."),
    layer: int | None = typer.Option(
        None, "--layer", min=0, help="Use only this layer's entry of a multi-layer file."
    ),
    batch_size: int = typer.Option(
        32, "--batch-size", min=1, help="Continuations (or prompts) per batch."
    ),
    *,
    data: DataSpec,
    model: ModelSpec,
) -> None:
    """Run lm-evaluation-harness on the (steered) model; other options go to the harness, e.g.
    mlsteer harness --tasks xcopa_local_sw --vector sw.safetensors --alpha 1 --limit 100."""
    from mlsteer.errors import check_choice

    check_choice("--control", control, ("none", "negated", "random"))
    model.check()
    if vector is not None and "=" in vector:
        lang, _, vector = vector.partition("=")
    argv = harness_argv(
        list(ctx.args),
        model.name,
        Path(vector) if vector else None,
        lang,
        alpha,
        control,
        data.seed,
        layer,
        model.device,
        model.dtype,
        batch_size,
        data.data_dir,
    )
    run_harness(argv)


def harness_argv(
    extra: list[str],
    model: str,
    vector: Path | None = None,
    lang: str | None = None,
    alpha: float = 1.0,
    control: str = "none",
    seed: int = 0,
    layer: int | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    batch_size: int = 32,
    data_dir: Path | None = None,
) -> list[str]:
    """The harness's ``run`` arguments: the model, its args, the local tasks, then ``extra``.
    Checks the vector file first, so a wrong path fails in one line before anything loads."""
    from mlsteer.paths import data_dir as resolve_data_dir

    if "--model" in extra or "-M" in extra:
        raise MlsteerError(
            "the harness model is mlsteer; name mlsteer's model with --model NAME before other options"
        )
    args = {"model": model, "alpha": alpha, "control": control, "dtype": dtype}
    if vector is not None:
        from mlsteer.steering.sources import vector_path

        path = vector_path(vector, lang)
        if not path.is_file():
            raise MlsteerError(
                f"no vector file at {path}; check the path (learn one with mlsteer learn)"
            )
        args.update(vector=vector, seed=seed)
    args.update({k: v for k, v in {"lang": lang, "layer": layer}.items() if v is not None})
    argv = [
        "--model",
        "mlsteer",
        "--model_args",
        *(f"{key}={value}" for key, value in args.items()),
    ]
    if "--batch_size" not in extra and "-b" not in extra:
        argv += ["--batch_size", str(batch_size)]
    if "--device" not in extra:
        argv += ["--device", device]
    if "--include_path" not in extra and resolve_data_dir(data_dir) is not None:
        from mlsteer.integrations.local_tasks import task_folder

        argv += ["--include_path", str(task_folder(data_dir))]
    return argv + extra


def run_harness(argv: list[str]) -> None:
    """Run the harness CLI (``lm-eval run ARGV``) with the mlsteer backend registered."""
    try:
        from lm_eval.__main__ import cli_evaluate
    except ImportError:
        raise MlsteerError(INSTALL_HINT) from None
    import mlsteer.integrations.lm_eval  # noqa: F401  (registers --model mlsteer)

    saved = sys.argv
    sys.argv = ["lm-eval", "run", *argv]
    try:
        cli_evaluate()
    finally:
        sys.argv = saved
