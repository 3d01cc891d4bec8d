"""The lm-evaluation-harness backend (``--model mlsteer``) equals mlsteer's own scorer and generator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip(
    "lm_eval", reason="lm-eval is an optional extra: pip install 'mlsteer[harness]'"
)

from lm_eval.api.instance import Instance
from typer.testing import CliRunner

from mlsteer.cli.app import app
from mlsteer.cli.harness import INSTALL_HINT, harness_argv, run_harness
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.scoring import score_choices, score_continuations
from mlsteer.evaluation.tasks.base import Query
from mlsteer.integrations.lm_eval import MlsteerLM, local_task_names, task_folder
from mlsteer.steering import SteeringVector, generate, save_steering, steer

from .tolerances import FORWARD, assert_close_scaled

DATA = Path(
    os.environ.get("MLSTEER_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
QUERIES = [
    Query("The cat sits on the", (" mat", " dog sleeps in the sun", " A")),
    Query("El gato", (" se sienta en la alfombra.", " B")),
    Query("猫坐在垫子上，狗在阳光下睡觉。 Answer:", (" A", " B", " C", " D")),
    Query("", ("Hi there friend",)),
]


def requests(kind: str, args: list[tuple]) -> list[Instance]:
    return [Instance(kind, {}, arg, index) for index, arg in enumerate(args)]


def pairs(queries: list[Query]) -> list[tuple[str, str]]:
    return [(query.context, option) for query in queries for option in query.continuations]


def random_vector(model, layer: int = 1, norm: float = 4.0, seed: int = 3) -> SteeringVector:
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(seed))
    return SteeringVector(direction * norm / direction.norm(), layer, "t", model.fingerprint)


@torch.inference_mode()
def reference(model, context: str, continuation: str) -> tuple[float, bool]:
    """One full forward of context + continuation (tokenised as mlsteer's scorer): summed
    log-prob and whether every continuation token is the argmax."""
    ids = model.tokenizer(context)["input_ids"] or [model.tokenizer.bos_token_id]
    option = model.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    logprobs = (
        model.bridge(torch.tensor([ids + option])).float().log_softmax(-1)[0, len(ids) - 1 : -1]
    )
    picked = logprobs[torch.arange(len(option)), option]
    return float(picked.sum()), bool((logprobs.argmax(-1) == torch.tensor(option)).all())


def greedy_query(model) -> Query:
    """A query whose continuation is the model's own greedy text (so ``is_greedy`` is True)."""
    prompts = ["The cat sits", "El gato", "Hi", "The dog sleeps in", "Le chat", "Die Katze"]
    for prompt, tokens in zip(prompts, generate(model, prompts, max_new_tokens=3).tokens.tolist()):
        for n in (
            3,
            2,
            1,
        ):  # a byte-level token may be half a character: find text that re-tokenises alike
            text = model.tokenizer.decode(tokens[:n])
            if model.tokenizer(text, add_special_tokens=False)["input_ids"] == tokens[:n]:
                return Query(prompt, (text,))
    raise AssertionError("no greedy continuation re-tokenises to its own tokens")


@pytest.mark.parametrize("steered", [False, True])
def test_loglikelihood_equals_mlsteer_scorer(tiny_model, steered):
    items = [random_vector(tiny_model)] if steered else []
    with steer(tiny_model, items) if steered else torch.inference_mode():
        queries = [*QUERIES, greedy_query(tiny_model)]  # greedy as steered
    lm = MlsteerLM(tiny_model, batch_size=3)
    lm.items = items  # what vector=FILE would load (file loading: see the control tests)
    got = lm.loglikelihood(requests("loglikelihood", pairs(queries)))
    with steer(tiny_model, items) if steered else torch.inference_mode():
        ours = [
            value
            for scores in score_continuations(tiny_model, queries, batch_size=3)
            for value in scores
        ]
        choices = [
            lp for scores in score_choices(tiny_model, queries[:3]) for lp in scores.logprobs
        ]
        expected = [reference(tiny_model, context, option) for context, option in pairs(queries)]
    # the backend is the scorer, grouped by context (an item is split past batch_size options: rounding)
    assert_close_scaled(
        torch.tensor([v for v, _ in got]), torch.tensor([v for v, _ in ours]), FORWARD
    )
    assert [g for _, g in got] == [g for _, g in ours]
    assert_close_scaled(
        torch.tensor([v for v, _ in got[: len(choices)]]), torch.tensor(choices), FORWARD
    )
    assert_close_scaled(
        torch.tensor([v for v, _ in got]), torch.tensor([v for v, _ in expected]), FORWARD
    )
    assert [g for _, g in got] == [g for _, g in expected]
    assert got[-1][1] and not all(g for _, g in got)  # both outcomes of is_greedy occur


def test_trailing_space_of_the_context_moves_to_the_continuation(tiny_gemma):
    lm = MlsteerLM(tiny_gemma)
    moved = lm.loglikelihood(requests("loglikelihood", [("The cat sits on the ", "mat")]))
    assert moved == lm.loglikelihood(requests("loglikelihood", [("The cat sits on the", " mat")]))


def steering_file(model, tmp_path: Path) -> tuple[Path, str]:
    """A vector along the unembedding of " mat" at the last layer, and that continuation."""
    token = model.tokenizer(" mat", add_special_tokens=False)["input_ids"]
    assert len(token) == 1
    direction = (
        model.bridge.original_model.get_output_embeddings().weight[token[0]].detach().float()
    )
    vector = SteeringVector(
        direction * 2.0 / direction.norm(), model.n_layers - 1, "t", model.fingerprint
    )
    return save_steering(tmp_path / "mat.safetensors", [vector]), " mat"


def test_steering_and_its_negated_control_move_loglikelihoods_opposite_ways(tiny_model, tmp_path):
    path, continuation = steering_file(tiny_model, tmp_path)
    batch = requests(
        "loglikelihood",
        [(c, continuation) for c in ("The cat sits on the", "El gato", "Hi", "猫坐在")],
    )

    def scores(**kwargs) -> torch.Tensor:
        return torch.tensor([v for v, _ in MlsteerLM(tiny_model, **kwargs).loglikelihood(batch)])

    plain = scores()
    toward = scores(vector=path, alpha=1.0) - plain
    away = scores(vector=path, alpha=1.0, control="negated") - plain
    shuffled = scores(vector=path, alpha=1.0, control="random", seed=1) - plain
    # the vector points at " mat": it raises that continuation's log-likelihood, the negation lowers it
    assert (toward > 0).all() and (away < 0).all(), (toward, away)
    assert not torch.allclose(shuffled, toward) and not torch.allclose(shuffled, away)


def test_vector_folder_needs_a_language(tiny_gemma, tmp_path):
    path, _ = steering_file(tiny_gemma, tmp_path)
    path.rename(tmp_path / "sw.safetensors")
    assert (
        MlsteerLM(tiny_gemma, vector=tmp_path, lang="sw").vector_path == tmp_path / "sw.safetensors"
    )
    with pytest.raises(MlsteerError, match="name the language"):
        MlsteerLM(tiny_gemma, vector=tmp_path)
    with pytest.raises(MlsteerError, match="no zh.safetensors"):
        MlsteerLM(tiny_gemma, vector=tmp_path, lang="zh")
    with pytest.raises(MlsteerError, match="unknown control"):
        MlsteerLM(tiny_gemma, vector=tmp_path, lang="sw", control="flipped")


def test_loglikelihood_rolling_is_the_text_after_bos(tiny_model):
    texts = ["The cat sits on the mat and the dog sleeps in the sun.", "猫坐在垫子上", "Hi"]
    lm = MlsteerLM(tiny_model)
    got = lm.loglikelihood_rolling(requests("loglikelihood_rolling", [(t,) for t in texts]))
    expected = [reference(tiny_model, "", text)[0] for text in texts]
    assert_close_scaled(torch.tensor(got), torch.tensor(expected), FORWARD)
    # windows shorter than the text: each token still predicted once, from less context
    short = MlsteerLM(tiny_model, max_length=4).loglikelihood_rolling(
        requests("loglikelihood_rolling", [(texts[0],)])
    )
    assert short[0] < 0 and abs(short[0] - got[0]) > 1e-3


@pytest.mark.parametrize("steered", [False, True])
def test_generate_until_equals_mlsteer_generate(tiny_model, steered):
    prompts = ["The cat sits on the", "El gato se", "猫坐在"]
    items = [random_vector(tiny_model)] if steered else []
    lm = MlsteerLM(tiny_model, batch_size=2)
    lm.items = items
    with steer(tiny_model, items) if steered else torch.inference_mode():
        free = generate(tiny_model, prompts, max_new_tokens=12)
        capped = generate(tiny_model, prompts, max_new_tokens=4)
    assert (
        lm.generate_until(
            requests("generate_until", [(p, {"max_gen_toks": 12, "until": []}) for p in prompts])
        )
        == free.texts
    )
    assert (
        lm.generate_until(requests("generate_until", [(p, {"max_gen_toks": 4}) for p in prompts]))
        == capped.texts
    )
    assert capped.tokens.shape[1] <= 4
    # a stop string from the middle of the free text cuts it there
    stops = [text[len(text) // 2 : len(text) // 2 + 2] for text in free.texts]
    batch = [(p, {"max_gen_toks": 12, "until": [s]}) for p, s in zip(prompts, stops)]
    cut = lm.generate_until(requests("generate_until", batch))
    for text, stop, out in zip(free.texts, stops, cut):
        assert stop and stop not in out and out == text[: text.index(stop)]


def test_sampling_is_refused(tiny_gemma):
    with pytest.raises(MlsteerError, match="greedily"):
        sampled = [("Hi", {"do_sample": True, "temperature": 0.7})]
        MlsteerLM(tiny_gemma).generate_until(requests("generate_until", sampled))


def test_local_yamls_use_the_harness_prompts():
    import lm_eval

    harness = Path(lm_eval.__file__).parent / "tasks"
    ours = Path(__file__).resolve().parents[1] / "mlsteer" / "integrations" / "harness_tasks"
    for path in ours.glob("xnli_local_*.yaml"):
        lang = path.stem.rsplit("_", 1)[1]
        original = yaml.safe_load((harness / "xnli" / f"xnli_{lang}.yaml").read_text())
        assert yaml.safe_load(path.read_text())["doc_to_choice"] == original["doc_to_choice"]
    for path in ours.glob("xcopa_local_*.yaml"):
        lang = path.stem.rsplit("_", 1)[1]
        assert f"doc_to_text: !function utils.doc_to_text_{lang}\n" in path.read_text()
        original = (harness / "xcopa" / f"default_{lang}.yaml").read_text()
        assert f"doc_to_text: !function utils.doc_to_text_{lang}" in original


@pytest.mark.skipif(
    not (DATA / "xcopa").is_dir(), reason=f"no benchmark data at {DATA} (set MLSTEER_DATA)"
)
def test_local_xcopa_runs_offline_with_and_without_a_vector(tiny_gemma, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(task_folder(DATA, tmp_path / "tasks")), include_defaults=False
    )
    tasks = local_task_names("xcopa", ["sw", "zh"])
    path, _ = steering_file(tiny_gemma, tmp_path)
    runs = {}
    for name, kwargs in {"plain": {}, "steered": {"vector": path, "alpha": 4.0}}.items():
        result = lm_eval.simple_evaluate(
            model=MlsteerLM(tiny_gemma, **kwargs),
            tasks=tasks,
            limit=20,
            task_manager=manager,
            bootstrap_iters=0,
        )
        runs[name] = result
        for task in tasks:
            assert result["results"][task]["sample_len"] == 20
            assert 0 <= result["results"][task]["acc,none"] <= 1
    sample = runs["plain"]["samples"]["xcopa_local_sw"][0]
    assert sample["arguments"][0][0].endswith(" kwa sababu") or sample["arguments"][0][0].endswith(
        " kwa hiyo"
    )
    plain = [s["resps"] for s in runs["plain"]["samples"]["xcopa_local_sw"]]
    steered = [s["resps"] for s in runs["steered"]["samples"]["xcopa_local_sw"]]
    assert plain != steered  # the vector was active during the harness run


def test_cli_help_and_missing_vector(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["harness", "--help"])
    assert result.exit_code == 0 and "--vector" in result.output
    result = runner.invoke(
        app,
        [
            "harness",
            "-m",
            "tiny-llama",
            "--vector",
            str(tmp_path / "nope.safetensors"),
            "--tasks",
            "xcopa_local_sw",
        ],
    )
    assert result.exit_code == 2 and "no vector file at" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    with pytest.raises(MlsteerError) as error:
        harness_argv([], "tiny-llama", tmp_path / "nope.safetensors")
    assert "\n" not in str(error.value)


def test_cli_arguments_for_the_harness(tmp_path):
    argv = harness_argv(
        ["--tasks", "xcopa_local_sw", "--limit", "5"], "tiny-llama", alpha=2.0, data_dir=DATA
    )
    assert argv[:2] == ["--model", "mlsteer"] and "model=tiny-llama" in argv and "alpha=2.0" in argv
    assert argv[-4:] == ["--tasks", "xcopa_local_sw", "--limit", "5"]
    if (DATA / "xcopa").is_dir():
        folder = Path(argv[argv.index("--include_path") + 1])
        assert str(DATA.resolve()) in (folder / "xcopa_local_sw.yaml").read_text()
    assert "--batch_size" not in harness_argv(["--batch_size", "4"], "tiny-llama")[:-2]
    with pytest.raises(MlsteerError, match="--model NAME"):
        harness_argv(["--model", "hf"], "tiny-llama")


def test_missing_harness_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval.__main__", None)
    with pytest.raises(MlsteerError, match=r"mlsteer\[harness\]") as error:
        run_harness(["--tasks", "xcopa_local_sw"])
    assert str(error.value) == INSTALL_HINT


def test_cli_runs_the_harness(tmp_path, monkeypatch):
    if not (DATA / "xcopa").is_dir():
        pytest.skip(f"no benchmark data at {DATA} (set MLSTEER_DATA)")
    monkeypatch.setenv("MLSTEER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "harness",
            "-m",
            "tiny-llama",
            "--data-dir",
            str(DATA),
            "--tasks",
            "xcopa_local_sw",
            "--limit",
            "2",
            "--output_path",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert list(out.rglob("results_*.json"))
