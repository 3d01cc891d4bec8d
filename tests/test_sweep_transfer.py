"""Layer sweep, transfer and pivot: pure analyses on planted correctness, then the pipelines
end to end on the tiny model with fixture files (resume included)."""

import json
import math

import pytest
import torch

from mlsteer.analysis.paired import align, compare
from mlsteer.analysis.sweep import choose_cell, summarise_sweep
from mlsteer.analysis.transfer import delta_matrix, nearest_partners
from mlsteer.data.corpora import load_pairs
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.evaluation.store import ResultStore
from mlsteer.pipeline.context import RunContext
from mlsteer.pipeline.sweep import load_choices, run_sweep
from mlsteer.pipeline.transfer import run_pivot, run_transfer
from tests.test_evaluation import write_xcopa

LAYERS, ALPHAS = [0, 1, 2, 3], [0.5, 1.0]


def planted(
    best: tuple[int, int], n: int = 40, high: float = 0.9, low: float = 0.5, seed: int = 0
) -> torch.Tensor:
    """A [layer, alpha, item] correctness grid whose only good cell is ``best``."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(len(LAYERS), len(ALPHAS), n, generator=g) < low
    grid[best] = torch.rand(n, generator=g) < high
    return grid


def test_sweep_finds_the_planted_layer_on_validation_and_never_looks_at_test():
    validation = planted((2, 1))
    test_grid = planted((0, 0), seed=1)  # test prefers another cell: it must not matter
    assert choose_cell(validation, LAYERS, ALPHAS) == (2, 1.0)
    basic = torch.zeros(40, dtype=torch.bool)
    result = summarise_sweep(
        "sw",
        LAYERS,
        ALPHAS,
        validation,
        basic[:40],
        {"vector": test_grid[2, 1], "negated": basic, "random": basic},
        basic,
        test_grid,
    )
    assert result.chosen == (2, 1.0)
    assert result.test["vector"].accuracy == pytest.approx(test_grid[2, 1].float().mean().item())
    assert (
        result.test_grid.argmax() != 2 * len(ALPHAS) + 1
    )  # the test optimum differs, and was ignored


def test_sweep_ties_go_to_the_earliest_layer_then_smallest_alpha():
    validation = torch.ones(len(LAYERS), len(ALPHAS), 5, dtype=torch.bool)
    validation[0] = False
    assert choose_cell(validation, LAYERS, ALPHAS) == (1, 0.5)
    with pytest.raises(MlsteerError, match="2 layers x 2 alphas"):
        choose_cell(validation, LAYERS[:2], ALPHAS)


@pytest.mark.usefixtures("without_shape_checks")  # checks mlsteer's own error
def test_paired_standard_error_matches_the_formula():
    steered = torch.tensor([1, 1, 0, 1, 0, 1], dtype=torch.bool)
    basic = torch.tensor([1, 0, 0, 0, 0, 1], dtype=torch.bool)
    result = compare(steered, basic)
    d = torch.tensor([0.0, 1, 0, 1, 0, 0])
    assert result.delta == pytest.approx(2 / 6)
    assert result.delta_stderr == pytest.approx(d.std().item() / math.sqrt(6))
    assert result.stderr == pytest.approx(math.sqrt(4 / 6 * 2 / 6 / 6))
    assert compare(basic, basic).delta_stderr == 0  # identical runs: no paired noise at all
    with pytest.raises(MlsteerError, match="equal 1-D"):
        compare(steered, basic[:3])


def test_align_keeps_shared_items_and_refuses_unfinished_runs():
    ids, runs = align({"basic": {"a": True, "b": False}, "v": {"b": True, "a": False}})
    assert ids == ["a", "b"] and runs["v"].tolist() == [False, True]
    with pytest.raises(MlsteerError, match="runs lack items of 'basic'"):
        align({"basic": {"a": True, "b": False}, "v": {"a": True}}, require="basic")
    with pytest.raises(EmptyInputError):
        align({"basic": {"a": True}, "v": {"b": True}})


def test_delta_matrix_and_partners():
    basic = {
        "sw": torch.tensor([0, 0, 1, 1], dtype=torch.bool),
        "en": torch.tensor([1, 1, 1, 0], dtype=torch.bool),
    }
    steered = {
        ("sw", "sw"): torch.tensor([1, 0, 1, 1], dtype=torch.bool),
        ("sw", "en"): torch.tensor([1, 0, 1, 0], dtype=torch.bool),
    }
    matrix = delta_matrix(steered, basic)
    assert matrix.delta().tolist() == [[0.25, -0.25]]
    assert "+25.0" in matrix.markdown() and "-25.0" in matrix.markdown()
    assert type(matrix).from_dict(json.loads(json.dumps(matrix.to_dict()))).delta().tolist() == [
        [0.25, -0.25]
    ]
    with pytest.raises(MlsteerError, match=r"no unsteered run for \['fr'\]"):
        delta_matrix({("sw", "fr"): basic["sw"]}, basic)
    distances = torch.tensor([[0.0, 0.3, 0.1], [0.3, 0.0, 0.5], [0.1, 0.5, 0.0]])
    assert nearest_partners(distances, ["es", "sw", "fr"], "es", k=2) == ["fr", "sw"]
    with pytest.raises(MlsteerError, match="'de' is not in the distance matrix"):
        nearest_partners(distances, ["es", "sw", "fr"], "de")


SENTENCES = [
    f"sentence number {i} about the {w}"
    for i, w in enumerate(
        [
            "sun",
            "sea",
            "dog",
            "cat",
            "tree",
            "house",
            "book",
            "road",
            "rain",
            "bread",
            "milk",
            "star",
        ]
    )
]


@pytest.fixture
def data_dir(tmp_path):
    folder = write_xcopa(tmp_path / "data", n_test=12, n_val=8)
    tatoeba = folder / "tatoeba"
    tatoeba.mkdir()
    for lang, code in (("sw", "swh"), ("id", "ind"), ("it", "ita")):
        (tatoeba / f"tatoeba.{code}-eng.{code}").write_text(
            "".join(f"{lang} {s}\n" for s in SENTENCES), encoding="utf-8"
        )
        (tatoeba / f"tatoeba.{code}-eng.eng").write_text(
            "".join(s + "\n" for s in SENTENCES), encoding="utf-8"
        )
    msvamp = folder / "msvamp"
    msvamp.mkdir()
    for name, prefix in (("Swahili", "sw"), ("Spanish", "es"), ("French", "fr")):
        rows = [
            {"query": s, "m_query": f"{prefix}: {s}", "response": str(i)}
            for i, s in enumerate(SENTENCES)
        ]
        (msvamp / f"test_{name}.json").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    return folder


def test_pivot_pairs_join_on_the_english_side(data_dir):
    pairs = load_pairs("msvamp", "sw", data_dir, goal="es")
    assert (
        pairs.goal == "es"
        and pairs.english[0] == f"es: {SENTENCES[0]}"
        and pairs.target[0] == f"sw: {SENTENCES[0]}"
    )
    with pytest.raises(MlsteerError, match="equals the source language"):
        load_pairs("msvamp", "sw", data_dir, goal="sw")


def test_sweep_pipeline_writes_everything_and_resumes(tiny_gemma, data_dir, tmp_path):
    out = tmp_path / "run"
    context = RunContext(
        tiny_gemma, out, n_pairs=12, data_dir=data_dir, batch_size=4, progress=False
    )
    kwargs = dict(layers=[1, 2], alphas=[4.0])
    sweeps = run_sweep(context, "xcopa", ["sw", "id"], **kwargs)
    for name in (
        "sweep_xcopa.json",
        "sweep_xcopa.md",
        "sweep_xcopa.html",
        "figures/sweep_xcopa.json",
        "vectors/sw_mse.safetensors",
        "validation/results.sqlite",
        "test/results.sqlite",
    ):
        assert (out / name).is_file(), name
    for sweep in sweeps:
        best = sweep.validation.flatten().argmax().item()
        assert sweep.chosen == (sweep.layers[best], 4.0)
        assert set(sweep.test) == {"vector", "negated", "random"} and sweep.test["vector"].n == 12
    data = json.loads((out / "sweep_xcopa.json").read_text())
    assert [s["lang"] for s in data["languages"]] == ["sw", "id"]
    rows = len(ResultStore(out / "test").rows())
    assert rows == 2 * 12 * (
        1 + 2 + 2
    )  # basic, the 2-cell test grid (holds the chosen vector), 2 controls
    again = run_sweep(context, "xcopa", ["sw", "id"], **kwargs)  # resumes: nothing recomputed
    assert len(ResultStore(out / "test").rows()) == rows
    assert [s.to_dict() for s in again] == [s.to_dict() for s in sweeps]

    choices = load_choices(out, "xcopa")
    matrix = run_transfer(
        context.with_out(tmp_path / "transfer"), "xcopa", choices, ["sw", "id", "it"]
    )
    assert matrix.rows == ("sw", "id") and matrix.columns == ("sw", "id", "it")
    # the diagonal repeats the sweep's own test run on the same items
    assert matrix.cells["sw"]["sw"].delta == pytest.approx(sweeps[0].test["vector"].delta)
    assert (tmp_path / "transfer" / "figures" / "transfer_xcopa.json").is_file()
    with pytest.raises(MlsteerError, match="no sweep_xnli.json"):
        load_choices(out, "xnli")


def test_pivot_pipeline(tiny_gemma, data_dir, tmp_path):
    context = RunContext(
        tiny_gemma,
        tmp_path / "pivot",
        corpus="msvamp",
        n_pairs=12,
        data_dir=data_dir,
        batch_size=4,
        progress=False,
    )
    matrix = run_pivot(context, "xcopa", ["sw"], ["en", "es", "fr"], layer=2, alpha=4.0)
    assert matrix.rows == ("toward en", "toward es", "toward fr") and matrix.columns == ("sw",)
    assert (tmp_path / "pivot" / "vectors" / "sw_to_es_mse.safetensors").is_file()
    assert "toward es" in (tmp_path / "pivot" / "pivot_xcopa.md").read_text()


def test_sweep_transfer_pivot_commands(data_dir, tmp_path):
    from typer.testing import CliRunner

    from mlsteer.cli import app

    runner, run = CliRunner(), tmp_path / "run"
    common = ["--data-dir", str(data_dir), "-m", "tiny-gemma3", "--limit", "6"]
    result = runner.invoke(
        app,
        [
            "sweep",
            "--task",
            "xcopa",
            "--langs",
            "sw",
            "--out",
            str(run),
            "--layers",
            "0-3:2",
            "--alphas",
            "1,4",
            "-n",
            "12",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| sw |" in result.output and (run / "sweep_xcopa.md").is_file()
    assert json.loads((run / "sweep_xcopa.json").read_text())["languages"][0]["layers"] == [0, 2]
    result = runner.invoke(
        app,
        [
            "transfer",
            "--task",
            "xcopa",
            "--targets",
            "sw,it",
            "--from-sweep",
            str(run),
            "--out",
            str(tmp_path / "t"),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| sw |" in result.output
    missing = runner.invoke(
        app,
        ["transfer", "--task", "xcopa", "--targets", "sw", "--out", str(tmp_path / "t2"), *common],
    )
    assert missing.exit_code == 2 and "--from-sweep" in missing.output
    result = runner.invoke(
        app,
        [
            "pivot",
            "--task",
            "xcopa",
            "--langs",
            "sw",
            "--pivots",
            "en,es",
            "--layer",
            "1",
            "--out",
            str(tmp_path / "p"),
            "-n",
            "12",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "toward es" in result.output


def test_wendler_and_pca_commands(data_dir, tmp_path):
    from typer.testing import CliRunner

    from mlsteer.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "wendler",
            "--langs",
            "es",
            "--out",
            str(tmp_path / "w"),
            "-m",
            "tiny-gemma3",
            "--shots",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "w" / "wendler_es.json").read_text())
    assert (
        data["source_lang"] == "fr"
        and data["n_prompts"] > 10
        and len(data["conditions"]["base"]["english_mean"]) == 4
    )
    result = runner.invoke(
        app,
        [
            "pca",
            "--langs",
            "sw,id",
            "--layer",
            "2",
            "--out",
            str(tmp_path / "p"),
            "-n",
            "8",
            "--data-dir",
            str(data_dir),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "figures" / "pca.json").is_file()
    bad = runner.invoke(
        app,
        [
            "pca",
            "--langs",
            "sw",
            "--layer",
            "9",
            "--out",
            str(tmp_path / "p2"),
            "--data-dir",
            str(data_dir),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert bad.exit_code == 2 and "layer" in bad.output
    bad = runner.invoke(
        app,
        [
            "wendler",
            "--langs",
            "zh",
            "--vector",
            "zh",
            "--out",
            str(tmp_path / "w2"),
            "-m",
            "tiny-gemma3",
        ],
    )
    assert bad.exit_code != 0 and "LANG=VALUE" in bad.output
