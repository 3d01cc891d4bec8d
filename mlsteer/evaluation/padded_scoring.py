"""The padded-batch scorer (issue 4's layout): every option of every item is its own sequence.

Kept as the baseline that :func:`mlsteer.evaluation.scoring.score_choices` (shared prefix) is
checked and benchmarked against (``bench/bench_scoring.py``): here the context of an item with
``k`` options runs ``k`` times.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from mlsteer.evaluation.scoring import (
    ChoiceScores,
    TokenizedItem,
    final_hidden,
    gather_logprobs,
    tokenize_items,
)
from mlsteer.evaluation.tasks.base import Query
from mlsteer.models.wrapper import SteerableModel


@torch.inference_mode()
def score_choices_padded(
    model: SteerableModel, queries: Sequence[Query], batch_size: int = 16, progress: bool = False
) -> list[ChoiceScores]:
    """Log-likelihood of every option, each (context + option) one row of a padded batch."""
    items = tokenize_items(model, queries)
    sequences = [
        (item.context + option, len(item.context)) for item in items for option in item.options
    ]
    totals = torch.zeros(len(sequences))
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i][0]))
    pad = model.tokenizer.pad_token_id
    for start in tqdm(
        range(0, len(order), batch_size), desc="scoring", disable=not progress, leave=False
    ):
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
        targets = input_ids[batch_rows, cols + 1, None]
        token_logprobs = gather_logprobs(
            model, hidden[batch_rows.to(hidden.device), cols.to(hidden.device)], targets
        )
        totals.index_add_(0, torch.tensor(rows)[batch_rows.cpu()], token_logprobs[:, 0])
    return _per_item(items, totals)


def _per_item(items: Sequence[TokenizedItem], totals: torch.Tensor) -> list[ChoiceScores]:
    scores, cursor = [], 0
    for item in items:
        n = len(item.options)
        scores.append(
            ChoiceScores(tuple(float(v) for v in totals[cursor : cursor + n]), item.byte_lengths)
        )
        cursor += n
    return scores
