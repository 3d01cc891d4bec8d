"""Multiple-choice scoring at the compute floor: each item's context runs once.

As lm-evaluation-harness scores options: the context is tokenised with BOS, each option without
special tokens, and the option's tokens' log-probs are summed (``acc``) and divided by the
option's UTF-8 length (``acc_norm``). What differs is the layout, not the numbers:

1. the contexts of a batch of items run once, left-padded so every context ends in the same
   column, with a KV cache; the log-prob of every option's *first* token is read at that last
   column (one unembedding per item, not per option);
2. the rest of each option (``o_1 .. o_{m-1}``, predicting ``o_2 .. o_m``) runs as one row per
   option on a copy of its item's cache. Single-token options (the letters of m_mmlu, M3Exam)
   need no second pass at all: one forward per item.

The unembedding runs only at positions that predict option tokens: on a 262k vocabulary it costs
more than all of Gemma 3 270M's blocks. Steering hooks see the same absolute positions as in a
plain forward (the BOS of a left-padded row is where :class:`DecodingPositions` says), so steered
scores equal the padded layout's (:mod:`mlsteer.evaluation.padded_scoring`) and the one-sequence
reference (:func:`score_choices_loop`) to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm
from transformers import DynamicCache

from mlsteer.activations.tokenize import check_lengths
from mlsteer.errors import MlsteerError
from mlsteer.evaluation.tasks.base import Query
from mlsteer.models.wrapper import DecodingPositions, SteerableModel
from mlsteer.steering.hooks import decoding_at


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
        return max(
            range(len(self.logprobs)), key=lambda i: self.logprobs[i] / max(1, self.byte_lengths[i])
        )


@dataclass(frozen=True)
class TokenizedItem:
    """One query as token ids: the context (BOS first) and each option's own tokens."""

    context: list[int]
    options: tuple[list[int], ...]
    byte_lengths: tuple[int, ...]


def tokenize_items(model: SteerableModel, queries: Sequence[Query]) -> list[TokenizedItem]:
    """Token ids of every query, as the harness splits them (context and option apart)."""
    tokenizer = model.tokenizer
    items = []
    for number, query in enumerate(queries):
        options = []
        for index, option in enumerate(query.continuations):
            ids = tokenizer(option, add_special_tokens=False)["input_ids"]
            if not ids:
                raise MlsteerError(
                    f"option {index} ({option!r}) of item {number} has no tokens; every option needs text "
                    f"(fix the task file or its renderer)"
                )
            options.append(ids)
        if not options:
            raise MlsteerError(
                f"item {number} has no options to score; a multiple-choice item needs at least one"
            )
        byte_lengths = tuple(len(c.encode("utf-8")) for c in query.continuations)
        items.append(
            TokenizedItem(tokenizer(query.context)["input_ids"], tuple(options), byte_lengths)
        )
    check_lengths(
        model, [len(item.context) + max(map(len, item.options)) for item in items], what="item"
    )  # before any forward
    return items


class _FinalHidden(Exception):
    """Raised from the final-norm hook to skip the unembedding; carries the hidden states."""

    def __init__(self, hidden: Tensor) -> None:
        self.hidden = hidden


def final_hidden(
    model: SteerableModel, input_ids: Tensor, attention_mask: Tensor, **forward_kwargs
) -> Float[Tensor, "batch pos d_model"]:
    """Hidden states after the final norm, without running the unembedding. ``forward_kwargs``
    (``position_ids``, ``past_key_values``, ``use_cache``) go to the bridge; a cache passed in is
    filled in place, since every block runs before the final norm."""

    def capture(hidden: Tensor, hook) -> None:
        raise _FinalHidden(hidden)

    try:
        with model.bridge.hooks(fwd_hooks=[("ln_final.hook_out", capture)]):
            model.bridge(input_ids, attention_mask=attention_mask, **forward_kwargs)
    except _FinalHidden as captured:
        return captured.hidden
    raise RuntimeError("the final-norm hook did not fire")


def gather_logprobs(
    model: SteerableModel, hidden: Float[Tensor, "row d_model"], targets: Int[Tensor, "row k"]
) -> Float[Tensor, "row k"]:
    """float32 log-probs (on CPU) of ``targets[r]`` after final-norm hidden state ``hidden[r]``:
    one unembedding per row, however many targets it is read for."""
    return gather_scores(model, hidden, targets)[0]


def gather_scores(
    model: SteerableModel, hidden: Float[Tensor, "row d_model"], targets: Int[Tensor, "row k"]
) -> tuple[Float[Tensor, "row k"], Bool[Tensor, "row k"]]:
    """:func:`gather_logprobs` and, per target, whether it is the row's argmax (what greedy
    decoding would pick: the harness's ``is_greedy``)."""
    logprobs = model.unembed(hidden).log_softmax(-1)
    targets = targets.to(logprobs.device)
    greedy = logprobs.argmax(-1, keepdim=True) == targets
    return logprobs.gather(-1, targets).cpu(), greedy.cpu()


@torch.inference_mode()
def score_choices(
    model: SteerableModel, queries: Sequence[Query], batch_size: int = 32, progress: bool = False
) -> list[ChoiceScores]:
    """Log-likelihood of every option of every query, each context run once.

    Args:
        batch_size: options per batch (items are added while their options fit; an item with
            more options than this runs alone). Items are sorted by length so batches pad little.
    """
    if batch_size < 1:
        raise MlsteerError(f"batch_size must be at least 1, got {batch_size}")
    items = tokenize_items(model, queries)
    totals = [total for total, _ in _score_items(model, items, batch_size, progress)]
    return [
        ChoiceScores(tuple(float(v) for v in total), item.byte_lengths)
        for total, item in zip(totals, items)
    ]


@torch.inference_mode()
def score_continuations(
    model: SteerableModel, queries: Sequence[Query], batch_size: int = 32, progress: bool = False
) -> list[list[tuple[float, bool]]]:
    """Per query, per continuation: (summed log-prob, whether greedy decoding yields every one of
    its tokens), what lm-evaluation-harness's ``loglikelihood`` returns. Same tokens, layout and
    numbers as :func:`score_choices`. An empty context (no BOS either) is scored after EOS, as
    the harness does."""
    items = tokenize_items(model, queries)
    bos = model.tokenizer.bos_token_id
    prefix = [bos if bos is not None else model.tokenizer.eos_token_id]
    return score_tokenized(
        model,
        [item if item.context else replace(item, context=prefix) for item in items],
        batch_size,
        progress,
    )


@torch.inference_mode()
def score_tokenized(
    model: SteerableModel,
    items: Sequence[TokenizedItem],
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[tuple[float, bool]]]:
    """:func:`score_continuations` on items already tokenised (the harness's rolling windows)."""
    if batch_size < 1:
        raise MlsteerError(f"batch_size must be at least 1, got {batch_size}")
    return [
        [(float(v), bool(g)) for v, g in zip(total, greedy)]
        for total, greedy in _score_items(model, items, batch_size, progress)
    ]


def _score_items(
    model: SteerableModel, items: Sequence[TokenizedItem], batch_size: int, progress: bool
) -> list[tuple[Float[Tensor, " option"], Bool[Tensor, " option"]]]:
    """Summed log-probs and all-tokens-greedy flags of every option of every item, batched
    longest first."""
    results: list = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: -_length(items[i]))
    with tqdm(
        total=len(items), desc="scoring", unit="item", disable=not progress, leave=False
    ) as bar:
        for rows in _batches(order, items, batch_size):
            for index, scores in zip(rows, _score_batch(model, [items[i] for i in rows])):
                results[index] = scores
            bar.update(len(rows))
    return results


def _length(item: TokenizedItem) -> int:
    return len(item.context) + max(len(option) for option in item.options)


def _batches(order: list[int], items: Sequence[TokenizedItem], batch_size: int) -> list[list[int]]:
    """Consecutive runs of ``order`` whose options add up to at most ``batch_size``."""
    batches: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index in order:
        n = len(items[index].options)
        if current and used + n > batch_size:
            batches.append(current)
            current, used = [], 0
        current.append(index)
        used += n
    return batches + [current] if current else batches


def _score_batch(
    model: SteerableModel, batch: Sequence[TokenizedItem]
) -> list[tuple[Float[Tensor, " option"], Bool[Tensor, " option"]]]:
    """Summed option log-probs of each item in ``batch``, and whether each option is greedy
    throughout (see the module docstring)."""
    device, pad = model.device, model.tokenizer.pad_token_id
    lengths = torch.tensor([len(item.context) for item in batch])
    width = int(lengths.max())
    pads = width - lengths  # left padding of each row: its BOS sits at column pads[r]
    ids = torch.full((len(batch), width), pad, dtype=torch.long)
    for row, item in enumerate(batch):
        ids[row, int(pads[row]) :] = torch.tensor(item.context)
    mask = (torch.arange(width) >= pads[:, None]).long()
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    has_tails = any(len(option) > 1 for item in batch for option in item.options)
    cache = DynamicCache(config=model.bridge.original_model.config) if has_tails else None
    bos = pads if model.adds_bos else None
    with decoding_at(model, DecodingPositions(offset=0, bos_index=bos)):
        hidden = final_hidden(
            model,
            ids.to(device),
            mask.to(device),
            position_ids=positions.to(device),
            past_key_values=cache,
            use_cache=cache is not None,
        )
    # First option tokens, read at the last context column (one unembedding per item).
    widest = max(len(item.options) for item in batch)
    firsts = torch.tensor(
        [[o[0] for o in item.options] + [0] * (widest - len(item.options)) for item in batch]
    )
    first, first_greedy = gather_scores(model, hidden[:, -1], firsts)
    totals = [first[row, : len(item.options)].clone() for row, item in enumerate(batch)]
    greedy = [first_greedy[row, : len(item.options)].clone() for row, item in enumerate(batch)]
    if has_tails:
        _add_option_tails(model, batch, totals, greedy, cache, mask, pads, lengths)
    return list(zip(totals, greedy))


def _add_option_tails(
    model: SteerableModel,
    batch: Sequence[TokenizedItem],
    totals: list[Tensor],
    greedy: list[Tensor],
    cache: DynamicCache,
    context_mask: Int[Tensor, "batch pos"],
    pads: Int[Tensor, " batch"],
    lengths: Int[Tensor, " batch"],
) -> None:
    """Add the log-probs of options' tokens 2..m (and clear ``greedy`` where one is not the
    argmax): one row per multi-token option on its item's cache."""
    device, pad = model.device, model.tokenizer.pad_token_id
    tails = [
        (row, index, option)
        for row, item in enumerate(batch)
        for index, option in enumerate(item.options)
        if len(option) > 1
    ]
    owner = torch.tensor([row for row, _, _ in tails])
    span = max(len(option) - 1 for _, _, option in tails)
    ids = torch.full((len(tails), span), pad, dtype=torch.long)
    targets = torch.zeros(len(tails), span, dtype=torch.long)
    real = torch.zeros(len(tails), span, dtype=torch.bool)
    for r, (_, _, option) in enumerate(tails):
        ids[r, : len(option) - 1] = torch.tensor(option[:-1])
        targets[r, : len(option) - 1] = torch.tensor(option[1:])
        real[r, : len(option) - 1] = True
    cache.reorder_cache(owner.to(device))  # each tail row gets a copy of its item's keys/values
    mask = torch.cat([context_mask[owner], real.long()], dim=1)
    positions = lengths[owner, None] + torch.arange(span)  # options continue where the context ends
    bos = pads[owner] if model.adds_bos else None
    with decoding_at(model, DecodingPositions(offset=context_mask.shape[1], bos_index=bos)):
        hidden = final_hidden(
            model,
            ids.to(device),
            mask.to(device),
            position_ids=positions.to(device),
            past_key_values=cache,
            use_cache=True,
        )
    rows, cols = real.nonzero(as_tuple=True)
    at = hidden[rows.to(hidden.device), cols.to(hidden.device)]
    logprobs, hits = gather_scores(model, at, targets[rows, cols, None])
    sums = torch.zeros(len(tails)).index_add_(0, rows, logprobs[:, 0])
    misses = torch.zeros(len(tails), dtype=torch.long).index_add_(0, rows, (~hits[:, 0]).long())
    for r, (row, index, _) in enumerate(tails):
        totals[row][index] += sums[r]
        greedy[row][index] &= bool(misses[r] == 0)


@torch.inference_mode()
def score_choices_loop(model: SteerableModel, queries: Sequence[Query]) -> list[ChoiceScores]:
    """Reference scorer: one full forward (all logits) per option. For tests and benchmarks."""
    scores = []
    for item in tokenize_items(model, queries):
        values = []
        for option in item.options:
            ids = item.context + option
            logprobs = (
                model.bridge(torch.tensor([ids], device=model.device)).float().log_softmax(-1)[0]
            )
            start = len(item.context)
            values.append(float(sum(logprobs[t - 1, ids[t]] for t in range(start, len(ids)))))
        scores.append(ChoiceScores(tuple(values), item.byte_lengths))
    return scores
