"""Shared-prefix scoring and batched generation on the embedded Gemma 3 270M and real benchmark items."""

import pytest
import torch

from mlsteer.evaluation.scoring import score_choices, score_choices_loop
from mlsteer.evaluation.tasks import get_task
from mlsteer.steering import SteeringVector, generate, steer

from ..test_scoring import assert_same_scores, hf_generate
from ..test_tasks import real_data

pytestmark = pytest.mark.integration

ITEMS = {"xcopa": "sw", "xnli": "sw", "m_mmlu": "es", "m3exam": "sw"}


@pytest.fixture(scope="module")
def vector(gemma) -> SteeringVector:
    """A random direction at layer 6 with a tenth of the residual norm there (~3,800)."""
    direction = torch.randn(gemma.d_model, generator=torch.Generator().manual_seed(0))
    return SteeringVector(direction * 380 / direction.norm(), 6, "random", gemma.fingerprint)


@pytest.mark.parametrize("name", list(ITEMS))
def test_shared_prefix_equals_one_forward_per_option_on_real_items(gemma, vector, name):
    task = get_task(name)
    queries = [
        task.render(e) for e in task.load(ITEMS[name], data_dir=real_data(), limit=2, seed=0)
    ]
    assert_same_scores(score_choices(gemma, queries), score_choices_loop(gemma, queries))
    for positions in ("all", "prompt"):
        with steer(gemma, vector, positions=positions):
            assert_same_scores(score_choices(gemma, queries), score_choices_loop(gemma, queries))


def test_steered_batched_generation_equals_hf_generate(gemma, vector):
    prompts = [
        "The capital of France is",
        "Question: What is 12 plus 30?\nAnswer:",
        "Habari ya asubuhi, rafiki",
    ]
    with steer(gemma, vector):
        ours = generate(gemma, prompts, max_new_tokens=12, stop_at_eos=False)
    for row, prompt in zip(ours.tokens.tolist(), prompts):
        assert row == hf_generate(gemma, prompt, 12, vector)
