"""The command line fails fast and offline-friendly: help without torch, arguments checked before
any model loads, expected failures as one line, model ids with dots."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
from typer.testing import CliRunner

from mlsteer.cli import app
from mlsteer.errors import MlsteerError, UnknownModelError
from mlsteer.learners import learners
from mlsteer.models.loading import parse_model_id

runner = CliRunner()
COMMANDS = [
    "info",
    "cache",
    "generate",
    "learn",
    "eval",
    "sft",
    "similarity",
    "lens",
    "wendler",
    "pca",
    "sweep",
    "transfer",
    "pivot",
    "table",
    "run",
    "demo",
    "report",
    "harness",
]


def _seconds(*args: str, below: float = 0.0) -> float:
    """Wall time of ``python ARGS``: the best of up to three runs, stopping at the first under
    ``below`` (the machine may be busy)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
        if best < below:
            break
    return best


def test_importing_the_cli_imports_no_torch():
    code = "import mlsteer.cli, sys; print('torch' in sys.modules, 'transformers' in sys.modules)"
    shown = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert shown == ["False", "False"]


def test_help_of_every_command_is_fast():
    startup = _seconds("-c", "pass")
    # 1.5 s over the interpreter's own start: generous for a busy 2-core CI machine; torch alone takes 2-10 s.
    for command in [[], *([name] for name in COMMANDS)]:
        took = _seconds("-m", "mlsteer", *command, "--help", below=startup + 1.5)
        assert took < startup + 1.5, (
            f"mlsteer {' '.join(command)} --help took {took:.2f} s (python: {startup:.2f} s)"
        )


def test_help_lists_every_command_and_hides_old_spellings():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and all(name in result.output for name in COMMANDS)
    shown = runner.invoke(app, ["learn", "--help"]).output
    assert (
        "--langs" in shown
        and "--goal" in shown
        and "--lang " not in shown
        and "--output" not in shown
    )


def test_default_model_is_the_embedded_one():
    from mlsteer.cli.options import DEFAULT_MODEL
    from mlsteer.models.embedded_gemma import EMBEDDED_NAME

    assert DEFAULT_MODEL == EMBEDDED_NAME


@pytest.mark.parametrize(
    "name",
    ["Qwen/Qwen1.5-7B-Chat", "meta-llama/Llama-3.1-8B", "CohereForAI/aya-23-8B", "google/gemma-7b"],
)
def test_dotted_hub_ids_are_hub_ids(name):
    assert parse_model_id(name).kind == "hub" and parse_model_id(name).source == name


def test_model_id_kinds(tmp_path, monkeypatch):
    assert (
        parse_model_id("tiny-llama").kind == "builtin"
        and parse_model_id("gemma-3-270m").kind == "builtin"
    )
    (tmp_path / "org" / "Model-1.5-x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_model_id("org/Model-1.5-x").kind == "local"  # a folder on disk wins over the Hub
    (tmp_path / "v.safetensors").write_bytes(b"")
    for bad, message in [
        ("gemma-4-huge", "unknown model"),
        ("v.safetensors", "is a file"),
        ("runs/v.safetensors", "no model folder"),
        ("./missing", "no model folder"),
        ("a/b/c", "no model folder"),
        ("org/..bad", "no model folder"),
    ]:
        with pytest.raises(UnknownModelError, match=message):
            parse_model_id(bad)


def test_local_folder_named_like_a_dotted_hub_id_loads(tmp_path, monkeypatch):
    from mlsteer.models import load_model
    from mlsteer.models.tiny import tiny_hf_model, tiny_tokenizer

    folder = tmp_path / "org" / "Model-1.5-x"
    tiny_hf_model("tiny-llama").save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    monkeypatch.chdir(tmp_path)
    model = load_model("org/Model-1.5-x")
    assert model.name == "org/Model-1.5-x" and model.n_layers == 4


@pytest.fixture
def no_load(monkeypatch):
    """Every way a command loads a model, recorded and refused: the tests assert it never ran."""
    import mlsteer.models
    import mlsteer.models.loading

    calls: list[str] = []

    def refuse(name, *args, **kwargs):
        calls.append(name)
        raise RuntimeError("a model was loaded")

    monkeypatch.setattr(mlsteer.models, "load_model", refuse)
    monkeypatch.setattr(mlsteer.models.loading, "load_model", refuse)
    monkeypatch.setattr(mlsteer.models.loading, "load_hf", refuse)
    monkeypatch.delenv("MLSTEER_DATA", raising=False)
    return calls


def _fails_before_loading(calls: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert message in text, text
    assert "Traceback" not in result.output and calls == []


def test_bad_arguments_fail_before_any_model_loads(tmp_path, no_load):
    from tests.test_evaluation import write_xcopa

    data = write_xcopa(tmp_path / "data", n_test=4, n_val=4)
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    learn = [
        "learn",
        "--method",
        "meandiff",
        "--layers",
        "1",
        "--corpus",
        "builtin",
        "-o",
        str(tmp_path / "v.safetensors"),
    ]
    evaluate = ["eval", "--task", "xcopa", "--out", str(tmp_path / "run"), "--data-dir", str(data)]
    cases = [
        (learn + ["--langs", "xx"], "unknown language code 'xx'"),
        (learn + ["--langs", "sw", "--goal", "zz"], "unknown language code 'zz'"),
        (
            learn + ["--langs", "sw", "--method", "ica"],
            f"use one of: {', '.join(learners())}",
        ),
        (learn + ["--langs", "sw", "-m", "no-such-model"], "unknown model 'no-such-model'"),
        (learn + ["--langs", "sw", "--dtype", "float8"], "unknown dtype 'float8'"),
        (learn + ["--langs", "sw", "--device", "tpu"], "unknown device 'tpu'"),
        (learn + ["--langs", "sw", "--pairs", "0"], "Invalid value for '--pairs'"),
        (learn + ["--langs", "sw", "--layers", "six"], "cannot read layers 'six'"),
        (
            learn[:-1] + [str(texts / "v.safetensors"), "--langs", "sw"],
            str(texts),
        ),  # under a file: unwritable
        (evaluate + ["--langs", "sw", "--task", "squad"], "unknown task 'squad'"),
        (evaluate + ["--langs", "fr"], "xcopa has no 'fr'"),
        (
            evaluate + ["--langs", "sw", "--method", "fewshot:abc"],
            "shots must be a positive whole number",
        ),
        (
            evaluate + ["--langs", "sw", "--method", "fewshot:0"],
            "shots must be a positive whole number",
        ),
        (evaluate + ["--langs", "sw", "--method", "magic"], "unknown method 'magic'"),
        (
            evaluate + ["--langs", "sw", "--method", "steered:nope.safetensors@1"],
            "no vector file or folder at nope.safetensors",
        ),
        (
            evaluate + ["--langs", "sw", "--method", f"sft:{tmp_path / 'nope'}"],
            "no fine-tuned model folder",
        ),
        (evaluate + ["--langs", "sw", "--limit", "-1"], "Invalid value for '--limit'"),
        (evaluate + ["--langs", "sw", "--batch-size", "0"], "Invalid value for '--batch-size'"),
        (
            [
                "eval",
                "--task",
                "xcopa",
                "--langs",
                "sw",
                "--out",
                str(tmp_path / "r"),
                "--data-dir",
                str(tmp_path / "none"),
            ],
            "Invalid value for '--data-dir'",
        ),
        (
            ["cache", str(tmp_path / "missing.txt"), "-o", str(tmp_path / "a.st")],
            "Invalid value for 'texts_file'",
        ),
        (
            ["generate", "Hi", "--vector", str(tmp_path / "nope.safetensors")],
            "no vector file or folder at",
        ),
        (
            [
                "lens",
                "--langs",
                "sw",
                "--vector",
                "sw=nope.safetensors",
                "--out",
                str(tmp_path / "l"),
            ],
            "LANG=VALUE",
        ),
        (
            ["similarity", "--langs", "sw,xx", "--out", str(tmp_path / "s")],
            "unknown language code 'xx'",
        ),
        (
            [
                "sweep",
                "--task",
                "xcopa",
                "--langs",
                "sw",
                "--learner",
                "ica",
                "--out",
                str(tmp_path / "s"),
                "--data-dir",
                str(data),
                "--corpus",
                "builtin",
            ],
            "unknown --learner 'ica'",
        ),
        (
            [
                "sweep",
                "--task",
                "xcopa",
                "--langs",
                "sw",
                "--out",
                str(tmp_path / "s"),
                "--data-dir",
                str(data),
            ],
            "missing data file",
        ),  # the data folder has no Tatoeba: found before the model loads
        (["demo", "--langs", "it"], "no built-in pairs for 'it'"),
    ]
    for args, message in cases:
        _fails_before_loading(no_load, args, message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_fails_before_loading(tmp_path, no_load):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    _fails_before_loading(
        no_load,
        ["cache", str(texts), "-o", str(tmp_path / "a.st"), "--device", "cuda"],
        "--device cpu",
    )


def test_offline_corpus_is_one_line_naming_the_fixes(tmp_path, no_load):
    args = [
        "learn",
        "--method",
        "meandiff",
        "--layers",
        "1",
        "--langs",
        "sw",
        "--corpus",
        "tatoeba",
        "-o",
        str(tmp_path / "v.safetensors"),
    ]
    _fails_before_loading(no_load, args, "--corpus builtin")
    result = runner.invoke(app, args)
    assert "--data-dir" in result.output and len(result.output.strip().splitlines()) == 1


def test_default_corpus_is_builtin_without_a_data_folder(tmp_path, monkeypatch):
    from mlsteer.data.corpora import default_corpus

    monkeypatch.delenv("MLSTEER_DATA", raising=False)
    assert default_corpus() == "builtin" and default_corpus(tmp_path) == "tatoeba"
    assert default_corpus(tmp_path, preferred="msvamp") == "msvamp"
    monkeypatch.setenv("MLSTEER_DATA", str(tmp_path))
    assert default_corpus() == "tatoeba"


def test_learn_without_corpus_or_data_uses_builtin_pairs_and_goal(tmp_path, monkeypatch):
    from mlsteer.steering import load_steering

    monkeypatch.delenv("MLSTEER_DATA", raising=False)
    out = tmp_path / "vectors"
    result = runner.invoke(
        app,
        [
            "learn",
            "--method",
            "meandiff",
            "--layers",
            "1",
            "--langs",
            "sw,es",
            "--goal",
            "fr",
            "-n",
            "40",
            "--out",
            str(out),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.glob("*.safetensors")} == {"sw.safetensors", "es.safetensors"}
    [entry] = load_steering(out / "sw.safetensors")
    assert entry.layer == 1 and "sw -> fr" in result.output


def test_hub_model_offline_is_one_line(tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat\n", encoding="utf-8")
    result = runner.invoke(
        app, ["cache", str(texts), "-o", str(tmp_path / "a.st"), "-m", "no-such-org/Model-1.5-x"]
    )
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "Hugging Face Hub" in result.output and len(result.output.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path, no_load):
    args = [
        "learn",
        "--method",
        "meandiff",
        "--layers",
        "1",
        "--langs",
        "xx",
        "-o",
        str(tmp_path / "v.safetensors"),
    ]
    result = runner.invoke(app, ["--debug", *args])
    assert isinstance(result.exception, MlsteerError) and "unknown language code" in str(
        result.exception
    )


def test_expected_failures_are_explained_in_one_line():
    import json
    import sqlite3

    from mlsteer.cli.errors import explain

    try:
        json.loads("{")
    except json.JSONDecodeError as error:
        assert "not valid JSON" in explain(error)
    assert "not UTF-8" in explain(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    assert "SQLite" in explain(sqlite3.DatabaseError("file is not a database"))
    assert "x.txt: No such file" in explain(
        FileNotFoundError(2, "No such file or directory", "x.txt")
    )
    assert "Hugging Face Hub" in explain(ConnectionError("Max retries exceeded"))
    assert "--device cpu" in explain(AssertionError("Torch not compiled with CUDA enabled"))
    assert explain(KeyError("bug")) is None  # a bug keeps its traceback


def test_steering_repr_is_short(tiny_gemma):
    from mlsteer.steering import SteeringVector
    from mlsteer.steering.vector import SteeringMap

    vector = SteeringVector(torch.ones(64), 1, "mse", tiny_gemma.fingerprint)
    shown = repr(vector)
    assert (
        shown == f"SteeringVector(mse, layer 1, d_model 64, norm 8, model {tiny_gemma.fingerprint})"
    )
    mapped = repr(SteeringMap(torch.eye(64), torch.zeros(64), 2, "lstsq", tiny_gemma.fingerprint))
    assert (
        mapped.startswith("SteeringMap(lstsq, layer 2, d_model 64, |W - I| 0, |b| 0")
        and "tensor" not in mapped
    )


def test_vector_option_is_file_or_lang_file(tmp_path, tiny_gemma):
    from mlsteer.cli.checks import vectors
    from mlsteer.steering import SteeringVector

    a = SteeringVector(torch.ones(64), 1, "t", tiny_gemma.fingerprint).save(
        tmp_path / "a.safetensors"
    )
    b = SteeringVector(-torch.ones(64), 1, "t", tiny_gemma.fingerprint).save(
        tmp_path / "b.safetensors"
    )
    assert vectors([str(a)], ["sw", "zh"]) == {"sw": str(a), "zh": str(a)}  # FILE: every language
    assert vectors([str(a), f"zh={b}"], ["sw", "zh"]) == {
        "sw": str(a),
        "zh": str(b),
    }  # LANG=FILE wins for its language
    with pytest.raises(MlsteerError, match="without a language"):
        vectors([str(a), str(b)], ["sw"])
    (tmp_path / "broken.safetensors").write_bytes(b"not a vector file")
    with pytest.raises(Exception, match="safetensors|vector"):
        vectors([f"sw={tmp_path / 'broken.safetensors'}"], ["sw"])  # read before any model loads
