"""Scoring: options by log-likelihood (batched), and greedy generation with stop strings.

Multiple choice, as lm-evaluation-harness does it: the context is tokenised with BOS, each
option without special tokens, and the option's tokens' log-probs are summed (``acc``) and
divided by the option's UTF-8 length (``acc_norm``). All options of many items run as one
padded batch, and the unembedding runs only at positions that predict option tokens: on a
262k vocabulary it costs more than all of Gemma 3 270M's blocks, and prompt positions need none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.evaluation.tasks.base import Query
from mlsteer.models.wrapper import SteerableModel


@dataclass(frozen=True)
class ChoiceScores:
    """Summed log-likelihood of each option, its UTF-8 length, and the two predictions."""

    logprobs: tuple[float, ...]
    byte_lengths: tuple[int, ...]

    @property
    def prediction(self) -> int:
        return max(range(len(self.logprobs)), key=lambda i: self.logprobs[i])

    @property
    def prediction_norm(self) -> int:
        return max(range(len(self.logprobs)), key=lambda i: self.logprobs[i] / max(1, self.byte_lengths[i]))


class _FinalHidden(Exception):
    """Raised from the final-norm hook to skip the unembedding; carries the hidden states."""

    def __init__(self, hidden: Tensor) -> None:
        self.hidden = hidden


def final_hidden(model: SteerableModel, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
    """Hidden states after the final norm, without running the unembedding."""

    def capture(hidden: Tensor, hook) -> None:
        raise _FinalHidden(hidden)

    try:
        with model.bridge.hooks(fwd_hooks=[("ln_final.hook_out", capture)]):
            model.bridge(input_ids, attention_mask=attention_mask)
    except _FinalHidden as captured:
        return captured.hidden
    raise RuntimeError("the final-norm hook did not fire")


def _option_sequences(model: SteerableModel, queries: Sequence[Query]) -> list[tuple[list[int], int]]:
    """(token ids, index where the option starts) for every (query, option)."""
    tokenizer = model.tokenizer
    sequences = []
    for query in queries:
        context = tokenizer(query.context)["input_ids"]
        for option in query.continuations:
            option_ids = tokenizer(option, add_special_tokens=False)["input_ids"]
            if not option_ids:
                raise ValueError(f"option {option!r} has no tokens")
            sequences.append((context + option_ids, len(context)))
    return sequences


@torch.inference_mode()
def score_choices(
    model: SteerableModel, queries: Sequence[Query], batch_size: int = 16, progress: bool = False
) -> list[ChoiceScores]:
    """Log-likelihood of every option of every query, batched across queries and options."""
    sequences = _option_sequences(model, queries)
    totals = torch.zeros(len(sequences))
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i][0]))
    pad = model.tokenizer.pad_token_id
    for start in tqdm(range(0, len(order), batch_size), desc="scoring", disable=not progress, leave=False):
        rows = order[start : start + batch_size]
        width = max(len(sequences[i][0]) for i in rows)
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        attention = torch.zeros(len(rows), width, dtype=torch.long)
        predicts = torch.zeros(len(rows), width, dtype=torch.bool)  # position t predicts token t+1
        for row, index in enumerate(rows):
            ids, option_start = sequences[index]
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
            predicts[row, option_start - 1 : len(ids) - 1] = True
        input_ids, attention = input_ids.to(model.device), attention.to(model.device)
        hidden = final_hidden(model, input_ids, attention)
        batch_rows, cols = predicts.nonzero(as_tuple=True)
        logprobs = model.unembed(hidden[batch_rows.to(hidden.device), cols.to(hidden.device)]).log_softmax(-1)
        targets = input_ids[batch_rows, cols + 1].unsqueeze(-1).to(logprobs.device)
        token_logprobs = logprobs.gather(-1, targets)[:, 0].cpu()
        totals.index_add_(0, torch.tensor(rows)[batch_rows], token_logprobs)
    scores, cursor = [], 0
    for query in queries:
        n = len(query.continuations)
        values = tuple(float(v) for v in totals[cursor : cursor + n])
        scores.append(ChoiceScores(values, tuple(len(c.encode("utf-8")) for c in query.continuations)))
        cursor += n
    return scores


@torch.inference_mode()
def score_choices_loop(model: SteerableModel, queries: Sequence[Query]) -> list[ChoiceScores]:
    """Reference scorer: one full forward (all logits) per option. For tests and benchmarks."""
    scores = []
    for query in queries:
        values = []
        for ids, option_start in _option_sequences(model, [query]):
            tokens = torch.tensor([ids], device=model.device)
            logprobs = model.bridge(tokens).float().log_softmax(-1)[0]
            values.append(float(sum(logprobs[t - 1, ids[t]] for t in range(option_start, len(ids)))))
        scores.append(ChoiceScores(tuple(values), tuple(len(c.encode("utf-8")) for c in query.continuations)))
    return scores
