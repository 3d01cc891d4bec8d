"""A report that shows the effect (issue 16 item 5): example generations, vector size against
the residual with its flags, n per cell, the config and command, tables that fit, colour scales
that span the data, sweep figures without empty panels."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import plotly.graph_objects as go
import pytest
import torch

from mlsteer.analysis.similarity import SimilarityResult
from mlsteer.analysis.sweep import LanguageSweep
from mlsteer.evaluation.store import ResultRow, ResultStore
from mlsteer.experiment.config import load_config, parse_config
from mlsteer.pipeline import examples as examples_module
from mlsteer.pipeline.examples import EXAMPLES, Prompt, example_prompts, run_examples
from mlsteer.plots.similarity import similarity_heatmap
from mlsteer.plots.sweep import sweep_figure
from mlsteer.report import build_report
from mlsteer.report.config import commands, config_toml
from mlsteer.report.vectors import NEAR_NULL, vector_scales
from mlsteer.steering import SteeringVector, save_steering

PROMPTS = {
    "es": ("cloze", [Prompt("a", "El gato", "mat"), Prompt("b", "La casa es", "grande")]),
    "sw": ("cloze", [Prompt("c", "Paka anakaa", "mkeka")]),
}


def _vector(model, layer: int, norm: float, resid_norm: float, seed: int = 0) -> SteeringVector:
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return SteeringVector(
        direction * norm / direction.norm(),
        layer,
        "mse",
        model.fingerprint,
        resid_norm=resid_norm,
    )


# --------------------------------------------------------------------------- the examples step


def test_examples_step_writes_every_condition_and_a_rerun_does_not_regenerate(
    tiny_gemma, tmp_path, monkeypatch
):
    chosen = tmp_path / "chosen" / "mse"
    for seed, lang in enumerate(PROMPTS):
        save_steering(chosen / f"{lang}.safetensors", [_vector(tiny_gemma, 1, 8.0, 10.0, seed)])
    out = tmp_path / "examples"
    path, ran = run_examples(tiny_gemma, PROMPTS, {"mse": chosen}, out, max_new_tokens=3)
    assert path == out / EXAMPLES and ran == 1 + 3 * len(PROMPTS)  # unsteered: one batch
    record = json.loads(path.read_text(encoding="utf-8"))
    assert set(record["languages"]) == {"es", "sw"}
    for lang, (task, prompts) in PROMPTS.items():
        entry = record["languages"][lang]
        assert entry["task"] == task and [p["id"] for p in entry["prompts"]] == [
            p.id for p in prompts
        ]
        assert len(entry["unsteered"]) == len(prompts)
        steered = entry["learners"]["mse"]
        assert steered["layers"] == [1] and steered["positions"] == "all"
        for condition in ("steered", "negated", "random"):
            assert len(steered[condition]) == len(prompts)
            assert all(isinstance(text, str) for text in steered[condition])

    def refuse(*args, **kwargs):
        raise AssertionError("a rerun generated again")

    monkeypatch.setattr(examples_module, "generate", refuse)
    again, ran = run_examples(tiny_gemma, PROMPTS, {"mse": chosen}, out, max_new_tokens=3)
    assert ran == 0 and json.loads(again.read_text(encoding="utf-8")) == record
    monkeypatch.undo()

    # a changed vector: only that language's steered rows run again
    save_steering(chosen / "sw.safetensors", [_vector(tiny_gemma, 1, 4.0, 10.0, 7)])
    _, ran = run_examples(tiny_gemma, PROMPTS, {"mse": chosen}, out, max_new_tokens=3)
    assert ran == 3


def test_example_prompts_come_from_the_first_task_with_the_language():
    task, prompts = example_prompts(["xcopa", "cloze"], "es", 3)  # xcopa has no es
    assert task == "cloze" and len(prompts) == 3
    assert all(p.text and p.gold and p.id for p in prompts)
    assert example_prompts(["cloze"], "xx-none", 3) is None


# --------------------------------------------------------------------------- the report


def make_run(run_dir: Path, model) -> Path:
    """A run folder as ``mlsteer run demo`` leaves it, with known numbers: mse es a normal
    vector (ratio 0.1) whose chosen cell is below unsteered; bipo es near-null (ratio 1e-4)
    above unsteered."""
    save_steering(run_dir / "chosen/mse/es.safetensors", [_vector(model, 1, 1.0, 10.0)])
    save_steering(run_dir / "chosen/bipo/es.safetensors", [_vector(model, 1, 1e-3, 10.0)])
    for learner, validation in (("mse", [[0.2, 0.3], [0.25, 0.1]]), ("bipo", [[0.6]])):
        layers, alphas = ([1, 2], [0.5, 1.0]) if learner == "mse" else ([1], [1.0])
        entry = {
            "lang": "es",
            "layers": layers,
            "alphas": alphas,
            "validation": validation,
            "basic_validation": 0.5,
            "chosen": {"layer": 1, "alpha": alphas[-1]},
            "basic_test": None,
            "test": {},
        }
        folder = run_dir / "sweep" / learner
        folder.mkdir(parents=True)
        (folder / "sweep_cloze.json").write_text(
            json.dumps({"task": "cloze", "learner": learner, "languages": [entry]})
        )
    record = json.loads(json.dumps(load_config("demo").to_dict()))
    record.pop("out"), record.pop("device")
    (run_dir / "config.json").write_text(
        json.dumps({**record, "data_in_force": record["data"]}), encoding="utf-8"
    )
    store = ResultStore(run_dir / "eval")
    store.add(
        ResultRow("tiny", "cloze", lang, method, str(i), "a", "a", bool(i % 2))
        for method in ("basic", "steered:mse@1")
        for lang, n in (("es", 6), ("sw", 4))
        for i in range(n - (method != "basic" and lang == "sw"))  # steered: one sw item fewer
    )
    store.close()
    examples = {
        "max_new_tokens": 3,
        "languages": {
            "es": {
                "task": "cloze",
                "prompts": [{"id": "a", "text": "La capital de Francia es", "gold": "París"}],
                "unsteered": [" <b>Madrid</b>"],
                "learners": {
                    "mse": {
                        "layers": [1],
                        "steered": [" París, la ciudad"],
                        "negated": [" Roma"],
                        "random": [" ..."],
                    }
                },
            }
        },
    }
    (run_dir / "examples").mkdir()
    (run_dir / "examples" / EXAMPLES).write_text(json.dumps(examples), encoding="utf-8")
    return run_dir


@pytest.fixture(scope="module")
def page(tiny_gemma, tmp_path_factory) -> str:
    run_dir = make_run(tmp_path_factory.mktemp("run"), tiny_gemma)
    return build_report(run_dir, exports=False).html.read_text(encoding="utf-8")


def _row(html: str, *cells: str) -> str:
    """The one table row whose first cells are ``cells``."""
    start = r"\s*".join(re.escape(f"<td>{cell}</td>") for cell in cells)
    rows = re.findall(rf"<tr>\s*{start}.*?</tr>", html, flags=re.S)
    assert len(rows) == 1, (cells, len(rows))
    return rows[0]


def test_report_shows_the_generations_side_by_side(page):
    assert 'id="examples"' in page and "Example generations" in page
    row = _row(page, 'La capital de Francia es <span class="gold">(París)</span>')
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)[1:]
    assert cells == [" &lt;b&gt;Madrid&lt;/b&gt;", " París, la ciudad", " Roma", " ..."]
    assert '<td class="hit"> París, la ciudad</td>' in row  # contains the gold answer
    assert "<b>Madrid</b>" not in page  # generated text is escaped


def test_vector_norm_ratio_and_flags(tiny_gemma, tmp_path):
    run_dir = make_run(tmp_path / "run", tiny_gemma)
    scales = {s.learner: s for s in vector_scales(run_dir)}
    assert scales["mse"].ratio == pytest.approx(0.1, rel=1e-4)
    assert scales["bipo"].ratio == pytest.approx(1e-4, rel=1e-3) and NEAR_NULL > 1e-4
    assert not scales["mse"].near_null and scales["bipo"].near_null
    assert scales["mse"].below_unsteered and not scales["bipo"].below_unsteered
    assert (scales["mse"].alpha, scales["mse"].validation, scales["mse"].unsteered) == (
        1.0,
        0.3,
        0.5,
    )


def test_report_flags_near_null_and_below_unsteered_rows_only(page):
    mse, bipo = _row(page, "mse", "es"), _row(page, "bipo", "es")
    assert "<td>0.1</td>" in mse and "<td>0.0001</td>" in bipo  # the ratios
    assert "near-null" in bipo and "near-null" not in mse
    assert "below unsteered" in mse and "below unsteered" not in bipo
    assert "<td>30.0 (50.0)</td>" in mse and "<td>60.0 (50.0)</td>" in bipo


def test_report_tables_give_n_per_cell(page):
    assert "n (items scored) per cell" in page
    counts = page[page.index("n (items scored) per cell") :]
    assert re.search(r"<td>basic</td>\s*<td>6</td>\s*<td>4</td>", counts)
    assert re.search(r"<td>steered:mse@1</td>\s*<td>6</td>\s*<td>3</td>", counts)


def test_report_shows_the_config_as_toml_and_the_command(page, tmp_path):
    assert "mlsteer run demo --out " in page and "mlsteer report " in page
    assert "[[learners]]" in page and "name = &quot;bipo&quot;" in page


def test_config_toml_reloads_as_the_same_config():
    config = load_config("demo")
    record = json.loads(json.dumps(config.to_dict()))
    record.pop("out"), record.pop("device")
    text = config_toml({**record, "data_in_force": record["data"]})
    again = parse_config(tomllib.loads(text), out=config.out)
    assert again == config
    assert commands(record, Path("runs/x"))[0] == "mlsteer run demo --out runs/x"
    assert commands({**record, "limit": 3}, Path("r"))[0] == "mlsteer run config.toml --out r"
    with_data = {**record, "data_in_force": record["with_data"]}
    assert "--data-dir" in commands(with_data, Path("r"))[0]


def test_every_table_scrolls_inside_its_box(page):
    assert page.count("<table") == page.count('<div class="table"><table')
    assert re.search(r"div\.table \{[^}]*overflow-x: auto", page)


# --------------------------------------------------------------------------- figures


def test_similarity_colour_range_follows_the_data():
    raw = SimilarityResult(("es", "zh"), (0, 1), torch.tensor([[0.91, 0.95], [0.97, 0.99]]))
    heatmap = similarity_heatmap(raw).data[0]
    assert (heatmap.zmin, heatmap.zmax) == pytest.approx((0.91, 0.99))
    centred = SimilarityResult(("es",), (0, 1), torch.tensor([[-0.2, 0.5]]))
    heatmap = similarity_heatmap(centred).data[0]
    assert (heatmap.zmin, heatmap.zmax, heatmap.zmid) == pytest.approx((-0.5, 0.5, 0.0))
    assert heatmap.colorscale != similarity_heatmap(raw).data[0].colorscale  # diverging


def _sweep(lang: str, layers, alphas, validation) -> LanguageSweep:
    grid = torch.tensor(validation, dtype=torch.float32)
    return LanguageSweep(
        lang, tuple(layers), tuple(alphas), grid, 0.4, (layers[0], alphas[0]), {}, None
    )


def _panels(figure: go.Figure) -> dict[str, int]:
    """Traces per x axis (panel)."""
    axes = [k for k in figure.layout.to_plotly_json() if k.startswith("xaxis")]
    counts = {axis.replace("axis", ""): 0 for axis in axes}
    for trace in figure.data:
        counts[trace.xaxis or "x"] += 1
    return counts


def test_sweep_figure_has_no_empty_panel():
    nan = math.nan
    sweeps = [
        _sweep("es", [3, 6], [1.0], [[0.5], [0.6]]),
        _sweep("sw", [3, 6], [1.0], [[nan], [nan]]),  # not swept: no panel
        _sweep("zh", [3, 6], [1.0], [[0.2], [0.3]]),
    ]
    figure = sweep_figure(sweeps)
    panels = _panels(figure)
    assert len(panels) == 2 and all(panels.values())
    assert [a.text for a in figure.layout.annotations] == ["es", "zh"]

    single = [_sweep(lang, [6], [1.0], [[0.5]]) for lang in ("es", "zh", "sw")]  # one cell
    figure = sweep_figure(single)
    assert list(_panels(figure).values()) == [len(figure.data)]  # one panel, not three
    assert list(figure.data[0].x) == ["es", "zh", "sw"]
