"""Supervised fine-tuning baseline: the model trained on the same pairs the vectors learn from.

Each pair becomes ``target text + newline`` -> ``English text`` (the chosen side of BiPO's
triples), with the loss on the English tokens only. The paper fine-tunes 7B models for 5 epochs
(lr 1e-3, AdamW, weight decay 0.001, warm-up 5 %, batch 16, cosine). On a 2-core CPU that is
out of reach, so the default budget is small and stated: 60 optimiser steps of batch 8, full
fine-tuning of every weight but the (tied, 262k x 640) embedding, lr 2e-5, same schedule shape.
The result is a Hugging Face folder that ``load_model(folder)`` and ``sft:FOLDER`` evaluate.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from mlsteer.data.pairs import ParallelPairs
from mlsteer.data.preferences import PARALLEL_TEMPLATE
from mlsteer.errors import EmptyInputError
from mlsteer.io import write_text_atomic


@dataclass(frozen=True)
class SFTConfig:
    steps: int = 60
    batch_size: int = 8
    lr: float = 2e-5
    weight_decay: float = 0.001
    warmup_fraction: float = 0.05
    train_embeddings: bool = False  # the tied embedding is 60 % of Gemma 3 270M's weights
    seed: int = 0


def finetune(
    hf_model: PreTrainedModel,
    tokenizer,
    pairs: ParallelPairs,
    output_dir: str | os.PathLike,
    config: SFTConfig = SFTConfig(),
    progress: bool = True,
) -> Path:
    """Fine-tune ``hf_model`` in place on ``pairs`` and save it (with tokenizer) to ``output_dir``."""
    if len(pairs) == 0:
        raise EmptyInputError("no pairs to fine-tune on")
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    examples = []
    for english, target in zip(pairs.english, pairs.target):
        prompt = tokenizer(PARALLEL_TEMPLATE.format(text=target))["input_ids"]
        completion = tokenizer(english, add_special_tokens=False)["input_ids"] + [
            tokenizer.eos_token_id
        ]
        examples.append((prompt + completion, len(prompt)))
    embeddings = hf_model.get_input_embeddings().weight
    for parameter in hf_model.parameters():
        parameter.requires_grad_(config.train_embeddings or parameter is not embeddings)
    trainable = [p for p in hf_model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    warmup = max(1, int(config.warmup_fraction * config.steps))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda s: (
            (s + 1) / warmup
            if s < warmup
            else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, config.steps - warmup)))
        ),
    )
    hf_model.train()
    losses = []
    for _ in tqdm(range(config.steps), desc="sft", disable=not progress):
        rows = torch.randint(len(examples), (config.batch_size,), generator=generator).tolist()
        width = max(len(examples[r][0]) for r in rows)
        input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        attention = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids, start = examples[r]
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention[i, : len(ids)] = 1
            labels[i, start : len(ids)] = torch.tensor(ids[start:])
        loss = hf_model(
            input_ids=input_ids.to(hf_model.device),
            attention_mask=attention.to(hf_model.device),
            labels=labels.to(hf_model.device),
        ).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(loss.item())
    hf_model.eval()
    output_dir = Path(output_dir)
    hf_model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    write_text_atomic(
        output_dir / "mlsteer-sft.json",
        json.dumps(
            {"config": asdict(config), "lang": pairs.lang, "pairs": len(pairs), "losses": losses},
            indent=1,
        ),
    )
    return output_dir
