"""Shared-prefix multiple-choice scoring and batched generation equal the reference layouts."""

from __future__ import annotations

import pytest
import torch

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.padded_scoring import score_choices_padded
from mlsteer.evaluation.scoring import score_choices, score_choices_loop
from mlsteer.evaluation.tasks import get_task
from mlsteer.evaluation.tasks.base import Query
from mlsteer.models import load_model
from mlsteer.steering import SteeringVector, generate, steer

from .test_tasks import BUILDERS
from .tolerances import FORWARD, approx_scaled

LANG = {"xcopa": "sw", "xnli": "sw", "m_mmlu": "es", "m3exam": "sw"}


@pytest.fixture(scope="module")
def task_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for builder, *_ in BUILDERS.values():
        builder(folder)
    return folder


def queries_of(name: str, folder, limit: int = 6) -> list[Query]:
    task = get_task(name)
    return [task.render(e) for e in task.load(LANG[name], data_dir=folder, limit=limit, seed=0)]


def random_vector(model, layer: int = 1, norm: float = 2.0) -> SteeringVector:
    direction = torch.randn(model.d_model, generator=torch.Generator().manual_seed(3))
    return SteeringVector(direction * norm / direction.norm(), layer, "t", model.fingerprint)


def assert_same_scores(ours, reference) -> None:
    for a, b in zip(ours, reference, strict=True):
        # another layout of the same tokens (cache, left padding): rounding at the log-probs' scale
        assert a.logprobs == approx_scaled(b.logprobs, FORWARD)
        assert a.byte_lengths == b.byte_lengths


@pytest.mark.parametrize("name", ["xcopa", "xnli", "m_mmlu", "m3exam"])
@pytest.mark.parametrize("positions", [None, "all", "prompt"])
def test_shared_prefix_equals_one_forward_per_option(tiny_model, task_data, name, positions):
    queries = queries_of(name, task_data, limit=3)
    vector = random_vector(tiny_model)

    def run(scorer, **kwargs):
        if positions is None:
            return scorer(tiny_model, queries, **kwargs)
        with steer(tiny_model, vector, positions=positions):
            return scorer(tiny_model, queries, **kwargs)

    reference = run(score_choices_loop)
    assert_same_scores(run(score_choices, batch_size=5), reference)
    assert_same_scores(run(score_choices_padded, batch_size=5), reference)
    if positions is not None:  # the vector really moved the scores the references agree on
        plain = score_choices_loop(tiny_model, queries)
        assert any(
            a.logprobs != approx_scaled(b.logprobs, FORWARD) for a, b in zip(plain, reference)
        )


def test_mixed_option_lengths_and_batch_sizes_agree(tiny_gemma):
    queries = [
        Query("The cat sits on the", (" mat", " dog sleeps in the sun", " A")),
        Query("El gato", (" se sienta en la alfombra.", " B")),
        Query("猫坐在垫子上，狗在阳光下睡觉。 Answer:", (" A", " B", " C", " D")),
        Query("Hi", (" there friend", " you")),
    ]
    reference = score_choices_loop(tiny_gemma, queries)
    for batch_size in (1, 3, 4, 64):
        assert_same_scores(score_choices(tiny_gemma, queries, batch_size=batch_size), reference)


def count_forwards(model):
    """A hook that records (rows, positions) of every forward pass (at block 0's input). Tests
    that count use a model of their own, so no other test's state can add a pass."""
    sizes: list[tuple[int, int]] = []

    def hook(resid, hook):
        sizes.append(tuple(resid.shape[:2]))

    return sizes, model.bridge.hooks(fwd_hooks=[("blocks.0.hook_in", hook)])


def test_letter_answers_need_one_forward_per_item_batch(task_data):
    tiny_gemma = load_model("tiny-gemma3")
    # m_mmlu's prompts with letters this tiny tokenizer keeps whole (real vocabularies have " A")
    queries = [Query(q.context, ("A", "B", "C", "D")) for q in queries_of("m_mmlu", task_data)]
    assert all(
        len(tiny_gemma.tokenizer(o, add_special_tokens=False)["input_ids"]) == 1
        for q in queries
        for o in q.continuations
    )
    assert_same_scores(score_choices(tiny_gemma, queries), score_choices_loop(tiny_gemma, queries))
    sizes, hooks = count_forwards(tiny_gemma)
    with hooks:
        score_choices(tiny_gemma, queries, batch_size=4 * len(queries))
    assert [size[0] for size in sizes] == [
        len(queries)
    ]  # one pass, one row per item, no option pass
    sizes, hooks = count_forwards(tiny_gemma)
    with hooks:
        score_choices_padded(tiny_gemma, queries, batch_size=4 * len(queries))
    assert [size[0] for size in sizes] == [4 * len(queries)]  # the old layout: one row per option


def test_context_runs_once_and_only_option_tails_rerun():
    tiny_gemma = load_model("tiny-gemma3")
    query = Query("one two three four five six seven eight", (" nine ten", "A"))
    sizes, hooks = count_forwards(tiny_gemma)
    with hooks:
        score_choices(tiny_gemma, [query])
    context = len(tiny_gemma.tokenizer(query.context)["input_ids"])
    tail = len(tiny_gemma.tokenizer(" nine ten", add_special_tokens=False)["input_ids"]) - 1
    assert sizes == [(1, context), (1, tail)]  # the single-token option "A" needs no second pass


def test_empty_option_and_bad_batch_size_are_named(tiny_gemma):
    with pytest.raises(MlsteerError, match=r"option 1 \(''\) of item 0 has no tokens"):
        score_choices(tiny_gemma, [Query("The cat", (" sat", ""))])
    with pytest.raises(MlsteerError, match="batch_size must be at least 1"):
        score_choices(tiny_gemma, [Query("The cat", (" sat",))], batch_size=0)


# --------------------------------------------------------------------------- generation

PROMPTS = ["The cat", "El gato se sienta en la alfombra y", "猫", "The answer is 42. One, two"]


def hf_generate(
    model, prompt: str, max_new_tokens: int, vector: SteeringVector | None = None
) -> list[int]:
    """Plain HF ``generate`` on one unpadded prompt, with an ordinary forward hook adding the
    vector at every position but BOS (the reference for steered generation)."""
    hf_model = model.bridge.original_model
    ids = model.tokenizer(prompt, return_tensors="pt")["input_ids"]
    handles = []
    if vector is not None:

        def add(module, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            delta = vector.vector.to(hidden.dtype)
            if hidden.shape[1] > 1:  # the prompt: BOS at position 0 is left alone
                hidden[:, 1:] += delta
            else:
                hidden += delta
            return output

        handles.append(hf_model.model.layers[vector.layer].register_forward_hook(add))
    try:
        with torch.inference_mode():
            out = hf_model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=model.tokenizer.pad_token_id,
            )
    finally:
        for handle in handles:
            handle.remove()
    return out[0, ids.shape[1] :].tolist()


@pytest.mark.parametrize("steered", [False, True])
def test_batched_generation_equals_hf_generate_per_prompt(tiny_model, steered):
    vector = random_vector(tiny_model, layer=2, norm=3.0) if steered else None
    expected = [hf_generate(tiny_model, prompt, 8, vector) for prompt in PROMPTS]
    if vector is None:
        ours = generate(tiny_model, PROMPTS, max_new_tokens=8)
    else:
        with steer(tiny_model, vector):
            ours = generate(tiny_model, PROMPTS, max_new_tokens=8)
    eos = tiny_model.tokenizer.eos_token_id
    for row, tokens in zip(ours.tokens.tolist(), expected):
        assert row[: len(tokens)] == tokens
        assert (
            all(t == tiny_model.tokenizer.pad_token_id for t in row[len(tokens) :]) or eos in tokens
        )


def test_finished_rows_leave_the_batch():
    tiny_gemma = load_model("tiny-gemma3")
    """A stop string ends one row early; later forwards run without it, and its text stops there."""
    full = generate(tiny_gemma, PROMPTS, max_new_tokens=10, stop_at_eos=False)
    stop = full.texts[0][2:4]  # a string row 0 produces at its 3rd-4th characters
    assert (
        stop
        and all(stop not in text[:3] for text in full.texts[1:])
        or pytest.skip("no distinctive stop")
    )
    sizes, hooks = count_forwards(tiny_gemma)
    with hooks:
        stopped = generate(
            tiny_gemma, PROMPTS, max_new_tokens=10, stop_at_eos=False, stop_strings=(stop,)
        )
    assert stopped.texts[0] == full.texts[0][: full.texts[0].index(stop)]
    assert min(size[0] for size in sizes) < len(PROMPTS) == sizes[0][0]
    for i in range(1, len(PROMPTS)):  # the other rows are untouched by row 0 leaving
        if stop not in full.texts[i]:
            assert stopped.texts[i] == full.texts[i]
            assert stopped.tokens[i].tolist() == full.tokens[i].tolist()


def test_stop_string_spanning_tokens_is_found_on_the_newest_tokens(tiny_gemma):
    full = generate(tiny_gemma, ["The cat"], max_new_tokens=12, stop_at_eos=False)
    stop = full.texts[0][5:11]  # six characters: spans several of this byte-level BPE's tokens
    stopped = generate(
        tiny_gemma, ["The cat"], max_new_tokens=12, stop_at_eos=False, stop_strings=(stop,)
    )
    assert stopped.texts[0] == full.texts[0][: full.texts[0].index(stop)]
    assert stopped.tokens.shape[1] < full.tokens.shape[1]


def test_negative_max_new_tokens_is_an_error(tiny_gemma):
    with pytest.raises(MlsteerError, match="max_new_tokens must be from 0 to"):
        generate(tiny_gemma, ["The cat"], max_new_tokens=-5)
