"""Tiny random-weight models built in-process, for fast tests that never download anything.

``tiny-gemma3`` and ``tiny-llama`` are real HF architectures (Gemma3ForCausalLM, LlamaForCausalLM)
with 4 layers and d_model 64, behind the same TransformerBridge as full-size models, so every
code path the tests exercise is the one real models take. The tokenizer is a byte-level BPE
trained here on a few multilingual sentences: any Unicode text encodes.
"""

from __future__ import annotations

from functools import lru_cache

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

TINY_MODELS = ("tiny-gemma3", "tiny-llama")

_PAD, _BOS, _EOS = "<pad>", "<bos>", "<eos>"
_TRAINING_TEXT = [
    "The cat sits on the mat and the dog sleeps in the sun.",
    "El gato se sienta en la alfombra y el perro duerme al sol.",
    "Le chat est assis sur le tapis et le chien dort au soleil.",
    "Die Katze sitzt auf der Matte und der Hund schläft in der Sonne.",
    "猫坐在垫子上，狗在阳光下睡觉。",
    "Paka anakaa kwenye mkeka na mbwa analala juani.",
    "Кошка сидит на коврике, а собака спит на солнце.",
    "แมวนั่งอยู่บนเสื่อและสุนัขนอนอยู่กลางแดด",
    "The answer is 42. One, two, three, four, five.",
]


@lru_cache(maxsize=1)
def _tokenizer_json() -> str:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=[_PAD, _BOS, _EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_TRAINING_TEXT, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{_BOS} $A", pair=f"{_BOS} $A $B", special_tokens=[(_BOS, 1)]
    )
    return tokenizer.to_str()


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A 512-entry byte-level BPE tokenizer that prepends ``<bos>`` (id 1); pad is id 0."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_PAD,
        name_or_path="mlsteer/tiny",  # the bridge reads init_kwargs["name_or_path"]
        add_bos_token=True,  # tells the bridge BOS is already prepended: no Hub re-load
    )


def tiny_hf_model(kind: str, seed: int = 0, attn_implementation: str = "sdpa") -> PreTrainedModel:
    """A random-weight HF causal LM of ``kind`` (``tiny-gemma3`` or ``tiny-llama``), seeded.

    Built in fp32 on the CPU (so the weights are the same on every machine); the caller moves
    and casts it."""
    vocab = len(tiny_tokenizer())
    common = dict(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        attn_implementation=attn_implementation,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if kind == "tiny-gemma3":
            config = Gemma3TextConfig(
                **common, sliding_window=8, architectures=["Gemma3ForCausalLM"]
            )
            model: PreTrainedModel = Gemma3ForCausalLM(config)
        elif kind == "tiny-llama":
            config = LlamaConfig(**common, architectures=["LlamaForCausalLM"])
            model = LlamaForCausalLM(config)
        else:
            raise ValueError(f"unknown tiny model {kind!r}; use one of: {', '.join(TINY_MODELS)}")
    return model.eval()
