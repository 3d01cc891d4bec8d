"""Learners, tasks, methods and run steps are found by registration, not by name tests: the
specs say what each learner needs, and a learner registered here (a toy one) runs through the
pipelines with no other file changed."""

import dataclasses

import pytest
import torch

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.methods import Basic, FewShot, method_syntaxes, parse_method
from mlsteer.evaluation.tasks import TASKS, get_task
from mlsteer.experiment.config import parse_config
from mlsteer.experiment.steps import STEPS, wanted_steps
from mlsteer.learners import (
    BipoConfig,
    LearnerSpec,
    LearnResult,
    MSEConfig,
    get_learner,
    get_learner_entry,
    learner_names,
    learners,
    register_learner,
)
from mlsteer.learners.base import Diagnostics, heldout_cosines, mean_norm
from mlsteer.learners.median_difference import learn_median_difference
from mlsteer.learners.registry import unregister_learner
from mlsteer.steering.vector import SteeringVector

BUILT_IN = {
    # name: (data, layers, output, relative scale)
    "bipo": ("preferences", "per_layer", "vector", True),
    "lstsq": ("pooled", "one_pass", "map", False),
    "meandiff": ("pooled", "one_pass", "vector", True),
    "mediandiff": ("pooled", "one_pass", "vector", True),
    "mse": ("pooled", "one_pass", "vector", True),
    "pca": ("pooled", "one_pass", "vector", True),
}


def test_every_learner_is_registered_with_its_spec():
    assert set(learners()) >= set(BUILT_IN)
    for name, (data, layers, output, relative) in BUILT_IN.items():
        spec = learners()[name].spec
        assert (spec.name, spec.data, spec.layers, spec.output) == (name, data, layers, output)
        assert spec.relative_scale is relative and spec.summary
    assert learner_names(layers="per_layer") == ("bipo",)
    assert set(learner_names(data="pooled")) == set(BUILT_IN) - {"bipo"}


def test_specs_list_each_learners_options_and_defaults():
    assert learners()["lstsq"].options() == {"ridge": (float, 0.1)}
    assert learners()["meandiff"].options() == {}
    mse = learners()["mse"].options()
    assert mse["solver"][1] == "closed" and mse["epochs"] == (int, 100)
    bipo = learners()["bipo"].options()
    assert bipo["beta"] == (float, 0.1) and bipo["lr"] == (float, 5e-4)


def test_flat_options_become_the_learners_keywords():
    mse = learners()["mse"]
    assert mse.keywords({}) == {}
    assert mse.keywords({"solver": "iterative", "epochs": 3, "ridge": 1.0}) == {
        "solver": "iterative",
        "config": MSEConfig(epochs=3),
    }
    paper = mse.keywords({"epochs": 2}, preset="paper")["config"]
    assert (paper.lr, paper.epochs) == (1e-8, 2)  # the preset, overridden by the options
    assert learners()["bipo"].keywords({"lr": 0.1}) == {"config": BipoConfig(lr=0.1)}
    assert learners()["lstsq"].keywords({"ridge": 0.0, "lr": 1.0}) == {"ridge": 0.0}
    with pytest.raises(MlsteerError, match="learner 'bipo' has no preset 'paper'"):
        learners()["bipo"].keywords({}, preset="paper")


def test_unknown_learner_lists_the_registered_ones():
    with pytest.raises(MlsteerError, match="unknown learner 'ica'; use one of: bipo, lstsq, "):
        get_learner_entry("ica")
    with pytest.raises(MlsteerError, match=r"use one of: .*mediandiff"):
        parse_config({"name": "x", "out": "o", "languages": ["sw"], "learners": [{"name": "ica"}]})


def test_the_median_difference_learner_is_one_file_and_its_registration():
    source = torch.zeros(5, 3)
    goal = torch.tensor([[1.0, 2, 3]] * 4 + [[100.0, -100, 100]])  # one outlier pair
    result = learn_median_difference(source, goal, layer=1, model_fingerprint="m")
    assert torch.equal(result.steering.vector, torch.tensor([1.0, 2, 3]))
    assert get_learner("mediandiff") is learn_median_difference
    config = parse_config(
        {"name": "x", "out": "o", "languages": ["sw"], "learners": [{"name": "mediandiff"}]}
    )
    assert config.learners[0].name == "mediandiff"


@pytest.fixture
def toy_learner():
    """A learner registered by this test only: half the mean difference."""

    @register_learner(LearnerSpec("toyhalf", "half the mean difference (a test's toy)"))
    def learn_toy(source, goal, *, layer, model_fingerprint, train_hash="", heldout=None, seed=0):
        vector = SteeringVector(
            vector=(goal.float() - source.float()).mean(0) / 2,
            layer=layer,
            method="toyhalf",
            model_fingerprint=model_fingerprint,
            resid_norm=mean_norm(source),
            train_hash=train_hash,
        )
        return LearnResult(vector, Diagnostics(**heldout_cosines(heldout, vector)))

    yield "toyhalf"
    unregister_learner("toyhalf")


def test_a_learner_registered_elsewhere_runs_through_learn_and_sweep(
    toy_learner, tiny_gemma, tmp_path
):
    from mlsteer.pipeline.context import RunContext
    from mlsteer.pipeline.learn import learn_from_corpus
    from mlsteer.pipeline.sweep import load_choices, run_sweep

    [half] = learn_from_corpus(
        tiny_gemma, toy_learner, [1], "sw", corpus="builtin", n_pairs=12, progress=False
    )
    [full] = learn_from_corpus(
        tiny_gemma, "meandiff", [1], "sw", corpus="builtin", n_pairs=12, progress=False
    )
    assert half.steering.method == toy_learner
    torch.testing.assert_close(half.steering.vector * 2, full.steering.vector)

    context = RunContext(
        tiny_gemma, tmp_path / "sweep", corpus="builtin", n_pairs=12, limit=4, progress=False
    )
    [sweep] = run_sweep(
        context, "cloze", ["sw"], layers=[1, 2], learner=toy_learner, test_grid=False
    )
    assert sweep.chosen[0] in (1, 2)
    choice = load_choices(tmp_path / "sweep", "cloze")["sw"]
    assert choice.path == tmp_path / "sweep" / "vectors" / "sw_toyhalf.safetensors"


def test_tasks_are_registered_by_their_modules():
    assert set(TASKS) == {"cloze", "m3exam", "m_mmlu", "mgsm", "xcopa", "xnli"}
    assert all(get_task(name) is task for name, task in TASKS.items())


def test_methods_are_parsed_through_their_registration():
    assert isinstance(parse_method("basic")[0], Basic)
    assert parse_method("fewshot:3")[0].k == 3 and isinstance(parse_method("fewshot")[0], FewShot)
    assert "sft:FOLDER" in method_syntaxes() and "xlt" in method_syntaxes()
    with pytest.raises(MlsteerError, match=r"unknown method 'beam'; use one of: basic, fewshot"):
        parse_method("beam")


def test_run_steps_are_registered_in_order_and_chosen_by_the_config():
    import mlsteer.experiment.runner  # noqa: F401  (registers the steps)

    names = list(STEPS)
    assert names[:2] == ["sweep", "evaluate"]
    assert {"similarity", "lens", "wendler", "pca", "transfer"} <= set(names)
    assert all(STEPS[name].every_rank for name in ("sweep", "evaluate"))
    config = parse_config({"name": "x", "out": "o", "languages": ["sw"], "pca_layer": 2})
    wanted = [step.name for step in wanted_steps(config)]
    assert "pca" in wanted and "lens" not in wanted and "similarity" not in wanted
    lens = dataclasses.replace(config, lens=["sw"])
    assert "lens" in [step.name for step in wanted_steps(lens)]
