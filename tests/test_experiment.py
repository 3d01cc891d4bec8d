"""``mlsteer run``: the config (errors name the problem), and a whole run on the tiny model with
fixture benchmark files: every step's outputs, the summary, resume, and a refused config change."""

import json

import pytest

from mlsteer.analysis.paired import Comparison
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.store import ResultStore
from mlsteer.experiment import load_config, run_experiment
from mlsteer.experiment.config import parse_config
from mlsteer.experiment.results_page import write_results_page
from mlsteer.experiment.summary import verdict
from tests.test_sweep_transfer import SENTENCES, data_dir  # noqa: F401  (fixture)

BASE = {"name": "t", "out": "runs/t", "languages": ["sw"]}


def test_builtin_configs_parse():
    demo = load_config("demo")
    assert (
        demo.name == "demo"
        and len(demo.languages) >= 4
        and {learner.name for learner in demo.learners} >= {"mse", "bipo"}
    )
    assert (
        demo.resolved(has_data=False).corpus == "builtin"
        and demo.resolved(has_data=True).sweep_task == "xcopa"
    )
    assert load_config("demo", out="elsewhere").out.name == "elsewhere"
    paper = load_config("paper")
    assert (
        paper.resolved(has_data=True).tasks[0] == "xcopa"
        and paper.resolved(has_data=False).corpus == "tatoeba"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"langauges": ["sw"]}, "unknown key.*langauges"),
        ({"languages": ["xx"]}, "unknown language code 'xx'"),
        ({"languages": []}, "languages is empty"),
        ({"learners": [{"name": "adam"}]}, "unknown learner 'adam'"),
        (
            {"learners": [{"name": "lstsq", "scale": "relative"}]},
            "lstsq learns a map, which has no relative scale",
        ),
        ({"learners": [{"name": "bipo", "all_layers": True}]}, "bipo trains one layer per run"),
        (
            {"learners": [{"name": "mse"}, {"name": "mse", "alphas": [2.0]}]},
            "two learners share the name 'mse'; give each a distinct label",
        ),
        (
            {"learners": [{"name": "mse", "positions": "generated"}]},
            "positions 'generated'; use all or prompt",
        ),
        ({"learners": [{"name": "mse", "label": "../x"}]}, "label '../x' names files"),
        ({"data": {"sweep_task": "mgsm"}}, "sweep_task 'mgsm' generates text"),
        ({"data": {"tasks": ["squad"]}}, "unknown task 'squad'"),
        ({"data": {"corpus_name": "x"}}, r"\[data\]: unknown key.*corpus_name"),
    ],
)
def test_config_errors_name_the_problem(change, message):
    with pytest.raises(MlsteerError, match=message):
        parse_config({**BASE, **change})
    with pytest.raises(MlsteerError, match="missing required key 'languages'"):
        parse_config({"name": "t", "out": "x"})
    with pytest.raises(
        MlsteerError, match="no config file nope.toml; pass a TOML file or a built-in name"
    ):
        load_config("nope.toml")


def test_run_end_to_end_resumes_and_refuses_another_config(tiny_gemma, data_dir, tmp_path):
    tatoeba = data_dir / "tatoeba"
    (tatoeba / "tatoeba.spa-eng.spa").write_text(
        "".join(f"es {s}\n" for s in SENTENCES), encoding="utf-8"
    )
    (tatoeba / "tatoeba.spa-eng.eng").write_text(
        "".join(s + "\n" for s in SENTENCES), encoding="utf-8"
    )
    raw = {
        "name": "tiny",
        "out": str(tmp_path / "run"),
        "model": "tiny-gemma3",
        "languages": ["sw", "id", "es"],
        "layers": [1, 2],
        "alphas": [4.0],
        "sweep_limit": 6,
        "limit": 8,
        "methods": ["basic", "fewshot:2"],
        "lens": ["sw"],
        "pca_layer": 1,
        "analysis_texts": 6,
        "learners": [{"name": "mse"}, {"name": "meandiff", "layers": [2]}],
        "data": {"corpus": "builtin", "sweep_task": "xcopa", "tasks": ["xcopa"]},
        "with_data": {"corpus": "tatoeba", "pairs": 12, "sweep_task": "xcopa", "tasks": ["xcopa"]},
    }
    config = parse_config(raw)
    result = run_experiment(config, data_dir, progress=False, exports=False)
    out = config.out
    for path in (
        "sweep/mse/sweep_xcopa.json",
        "sweep/meandiff/sweep_xcopa.html",
        "chosen/mse/sw.safetensors",
        "chosen/mse/es.safetensors",
        "eval/results.sqlite",
        "eval/table.md",
        "analysis/lens/lens_sw.json",
        "analysis/pca/pca.json",
        "summary.md",
        "report.html",
        "config.json",
    ):
        assert (out / path).exists(), path
    assert not (out / "sweep/mse/test").exists()  # the sweep stops at the validation choice
    rows = ResultStore(out / "eval").rows()
    methods = {r.method for r in rows}
    assert methods == {
        "basic",
        "fewshot2",
        "steered:mse@1",
        "steered:mse@1:negated",
        "steered:mse@1:random",
        "steered:meandiff@1",
        "steered:meandiff@1:negated",
        "steered:meandiff@1:random",
    }
    assert {r.lang for r in rows} == {"sw", "id"} and len(rows) == 2 * 8 * len(
        methods
    )  # es: xcopa lacks it
    assert "| method | sw | id | mean |" in result.summary and "| mse@1 negated |" in result.summary
    assert (
        "| es | L" in result.summary and "(shared)" in result.summary
    )  # es: xcopa lacks it, shared choice
    sweep = json.loads((out / "sweep/mse/sweep_xcopa.json").read_text())
    chosen = {s["lang"]: s["chosen"]["layer"] for s in sweep["languages"]}
    assert [entry["layer"] for entry in _entries(out / "chosen/mse/sw.safetensors")] == [
        chosen["sw"]
    ]

    page = write_results_page(out, tmp_path / "docs" / "results.md").read_text()
    assert (
        "## Accuracy" in page and "| xcopa | steered:mse@1 |" in page and "xcopa id 8, sw 8" in page
    )
    assert "| mse | " in page and "Next to the paper's claims" in page

    again = run_experiment(
        config, data_dir, progress=False, exports=False
    )  # everything done: nothing added
    assert len(ResultStore(out / "eval").rows()) == len(rows) and again.summary == result.summary
    with pytest.raises(MlsteerError, match="made by a different config .*differs in: limit"):
        run_experiment(parse_config({**raw, "limit": 4}), data_dir, progress=False, exports=False)


def _entries(path):
    from mlsteer.steering import load_steering

    return [{"layer": item.layer} for item in load_steering(path)]


def test_a_run_folder_from_before_a_config_key_existed_resumes(tmp_path):
    """A config key added since (its default is what ran) does not lock an old run folder."""
    from mlsteer.experiment.runner import _claim

    config = parse_config({**BASE, "out": str(tmp_path / "run")})
    _claim(config, config.data)
    saved = tmp_path / "run" / "config.json"
    record = json.loads(saved.read_text())
    for key in ("transfer", "dtype"):
        record.pop(key)
    saved.write_text(json.dumps(record))
    _claim(config, config.data)  # no "differs in: transfer"
    with pytest.raises(MlsteerError, match="differs in: transfer"):
        _claim(
            parse_config({**BASE, "out": str(tmp_path / "run"), "transfer": ["xcopa"]}), config.data
        )


def test_verdict_needs_two_standard_errors():
    assert verdict(Comparison(0.6, 0.05, 0.05, 0.02, 100)) == " ▲"
    assert verdict(Comparison(0.4, 0.05, -0.05, 0.02, 100)) == " ▼"
    assert verdict(Comparison(0.5, 0.05, 0.03, 0.02, 100)) == ""
    assert verdict(Comparison(0.5, 0.05, 0.0, 0.0, 100)) == ""


def test_summary_shows_a_method_still_running_instead_of_comparing_a_subset(tmp_path):
    from mlsteer.evaluation.store import ResultRow
    from mlsteer.experiment.summary import plan_from_store, summary_markdown

    store = ResultStore(tmp_path)
    store.add(
        [ResultRow("m", "xnli", "sw", "basic", str(i), "0", "0", i % 2 == 0) for i in range(4)]
    )
    store.add([ResultRow("m", "xnli", "sw", "fewshot3", str(i), "0", "0", True) for i in range(2)])
    plan, methods = plan_from_store(store, "m")
    text = summary_markdown(store, "m", plan, methods, {}, "xnli")
    assert "| basic | 50.0 | 50.0 |" in text and "running (2 of 4)" in text


def test_tally_leaves_out_a_method_still_running_and_states_the_detectable_effect(tmp_path):
    from mlsteer.evaluation.store import ResultRow
    from mlsteer.experiment.results_page import _tally
    from mlsteer.experiment.summary import plan_from_store

    store = ResultStore(tmp_path)
    for lang in ("sw", "zh"):
        store.add(
            [ResultRow("m", "xnli", lang, "basic", str(i), "0", "0", i % 2 == 0) for i in range(40)]
        )
        # the steered run flips 3 of 40 items right: within 2 SE
        store.add(
            [
                ResultRow("m", "xnli", lang, "steered:v@1", str(i), "0", "0", i % 2 == 0 or i < 6)
                for i in range(40)
            ]
        )
    # few-shot has finished sw, but zh only on 4 items, all right: must not be tallied on them
    store.add(
        [ResultRow("m", "xnli", "sw", "fewshot3", str(i), "0", "0", i % 2 == 0) for i in range(40)]
    )
    store.add([ResultRow("m", "xnli", "zh", "fewshot3", str(i), "0", "0", True) for i in range(4)])
    plan, methods = plan_from_store(store, "m")
    lines = _tally(store, "m", plan, methods)
    [fewshot] = [line for line in lines if "fewshot3" in line]
    assert fewshot.startswith("| xnli | fewshot3 (1 running) | 0 | 1 | 0 | +0.0 |"), fewshot
    [steered] = [line for line in lines if "steered:v@1" in line]
    # 3 flips in 40: SE = sqrt(0.075 * 0.925 * 40/39) / sqrt(40) = 4.22 points; 2.80 SE = 11.8 points
    assert "| 0 | 2 | 0 | +7.5 | sw ±11.8, zh ±11.8 |" in steered, steered


def test_summary_gives_the_share_of_the_ceilings_gain_for_steered_methods_only(tmp_path):
    from mlsteer.evaluation.store import ResultRow
    from mlsteer.experiment.summary import plan_from_store, summary_markdown

    store = ResultStore(tmp_path)
    n = 40
    store.add([ResultRow("m", "xnli", "sw", "basic", str(i), "0", "0", i < 10) for i in range(n)])
    store.add(
        [ResultRow("m", "xnli", "sw", "translate_test", str(i), "0", "0", i < 30) for i in range(n)]
    )  # +50 points
    store.add(
        [ResultRow("m", "xnli", "sw", "steered:v@1", str(i), "0", "0", i < 20) for i in range(n)]
    )  # +25 points
    store.add(
        [
            ResultRow("m", "xnli", "sw", "steered:v@1:negated", str(i), "0", "0", i < 5)
            for i in range(n)
        ]
    )
    plan, methods = plan_from_store(store, "m")
    text = summary_markdown(store, "m", plan, methods, {}, "xnli")
    assert "| v@1: share of the ceiling's gain | 50% ±" in text
    assert "negated: share" not in text
    assert "translate_test (oracle English: ceiling)" in text


def test_run_sweeps_maps_all_layers_relative_scale_prompt_positions_and_two_bipo_settings(
    tiny_gemma, data_dir, tmp_path
):
    from mlsteer.steering import SteeringMap, SteeringVector, load_steering

    raw = {
        "name": "strong",
        "out": str(tmp_path / "run"),
        "model": "tiny-gemma3",
        "languages": ["sw"],
        "layers": [1, 2],
        "alphas": [0.5, 1.0],
        "sweep_limit": 4,
        "limit": 4,
        "methods": ["basic"],
        "learners": [
            {"name": "lstsq"},
            {"name": "lstsq", "label": "lstsq-all", "all_layers": True},
            {
                "name": "mse",
                "label": "mse-rel",
                "scale": "relative",
                "alphas": [0.1],
                "positions": "prompt",
            },
            {
                "name": "bipo",
                "label": "bipo-paper",
                "layers": [1],
                "alphas": [1.0],
                "pairs": 8,
                "epochs": 1,
            },
            {
                "name": "bipo",
                "label": "bipo-rms",
                "layers": [1],
                "alphas": [1.0],
                "pairs": 8,
                "epochs": 1,
                "lr_per_resid_rms": True,
            },
        ],
        "data": {"corpus": "builtin", "pairs": 16, "sweep_task": "xcopa", "tasks": ["xcopa"]},
    }
    config = parse_config(raw)
    run_experiment(config, data_dir, progress=False, exports=False)
    out = config.out
    methods = {r.method for r in ResultStore(out / "eval").rows()}
    for label in ("lstsq", "lstsq-all", "mse-rel/prompt", "bipo-paper", "bipo-rms"):
        assert {
            f"steered:{label}@1",
            f"steered:{label}@1:negated",
            f"steered:{label}@1:random",
        } <= methods, label
    # one map per layer for lstsq; every learned layer at once for lstsq-all, swept over alpha alone
    [single] = load_steering(out / "chosen/lstsq/sw.safetensors")
    every = load_steering(out / "chosen/lstsq-all/sw.safetensors")
    assert isinstance(single, SteeringMap) and [m.layer for m in every] == [1, 2]
    sweep = json.loads((out / "sweep/lstsq-all/sweep_xcopa.json").read_text())["languages"][0]
    assert sweep["layers"] == [-1] and len(sweep["validation"]) == 1
    # relative scale: the chosen vector adds 0.1 of the layer's mean residual norm
    [relative] = load_steering(out / "chosen/mse-rel/sw.safetensors")
    assert isinstance(relative, SteeringVector) and relative.norm == pytest.approx(
        0.1 * relative.resid_norm, rel=1e-5
    )
    # the two BiPO settings are two files, trained with different learning rates
    paper, scaled = (
        load_steering(out / f"vectors/sw_{label}.safetensors")[0]
        for label in ("bipo-paper", "bipo-rms")
    )
    assert paper.norm != pytest.approx(scaled.norm, rel=1e-3)
    assert "all layers" in (out / "summary.md").read_text()


def test_a_learner_for_fewer_languages_is_evaluated_on_those_only(tiny_gemma, data_dir, tmp_path):
    raw = {
        "name": "some",
        "out": str(tmp_path / "run"),
        "model": "tiny-gemma3",
        "languages": ["sw", "id"],
        "layers": [1],
        "alphas": [1.0],
        "sweep_limit": 4,
        "limit": 4,
        "methods": ["basic"],
        # task-like pairs (MSVAMP) exist for sw only: that learner covers sw alone
        "learners": [
            {"name": "meandiff"},
            {"name": "mse", "label": "mse-sw", "corpus": "msvamp", "languages": ["sw"]},
        ],
        "data": {"corpus": "tatoeba", "pairs": 12, "sweep_task": "xcopa", "tasks": ["xcopa"]},
    }
    config = parse_config(raw)
    result = run_experiment(config, data_dir, progress=False, exports=False)
    rows = ResultStore(config.out / "eval").rows()
    assert {r.lang for r in rows if r.method.startswith("steered:mse-sw")} == {"sw"}
    assert {r.lang for r in rows if r.method.startswith("steered:meandiff")} == {"sw", "id"}
    assert len(rows) == 4 * (2 * (1 + 3) + 3)
    assert "| mse-sw@1 |" in result.summary
    with pytest.raises(MlsteerError, match="names 'es', which is not in the run's languages"):
        parse_config({**raw, "learners": [{"name": "mse", "languages": ["es"]}]})


def test_run_transfer_step_applies_each_languages_vector_to_the_others(
    tiny_gemma, data_dir, tmp_path
):
    raw = {
        "name": "transfer",
        "out": str(tmp_path / "run"),
        "model": "tiny-gemma3",
        "languages": ["sw", "id"],
        "layers": [1],
        "alphas": [1.0],
        "sweep_limit": 4,
        "limit": 4,
        "methods": ["basic"],
        "transfer": ["xcopa"],
        "learners": [{"name": "meandiff"}],
        "data": {"corpus": "tatoeba", "pairs": 12, "sweep_task": "xcopa", "tasks": ["xcopa"]},
    }
    config = parse_config(raw)
    run_experiment(config, data_dir, progress=False, exports=False)
    matrix = json.loads((config.out / "analysis/transfer/transfer_xcopa.json").read_text())
    assert set(matrix["rows"]) == {"sw", "id"} and set(matrix["columns"]) == {
        "sw",
        "id",
    }  # xcopa has no en
    assert "Cross-language transfer on xcopa" in (config.out / "report.html").read_text(
        encoding="utf-8"
    )
    with pytest.raises(MlsteerError, match="transfer task 'mgsm' generates text"):
        parse_config({**raw, "transfer": ["mgsm"]})
