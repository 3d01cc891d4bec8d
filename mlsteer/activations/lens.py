"""Logit lens: what each layer's residual stream would predict if it were the last layer.

resid_post at layer L goes through the model's own final norm and unembedding (Gemma's
RMSNorm with its ``1 + weight`` scale, and soft-capping where the config sets it, come from the
HF modules themselves), and each text's last position is read: the top-k next tokens
(:func:`logit_lens_topk`) or the probability mass on given token sets (:func:`logit_lens_mass`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from mlsteer.activations.collect import check_layers, run_to_layer
from mlsteer.activations.tokenize import check_texts, encode_batch
from mlsteer.errors import EmptyInputError, MlsteerError
from mlsteer.models.wrapper import SteerableModel


@dataclass(frozen=True)
class LensTopK:
    """Top-k next tokens per text and layer, at each text's last position."""

    layers: tuple[int, ...]
    token_ids: Int[Tensor, "text layer k"]
    probs: Float[Tensor, "text layer k"]
    tokens: tuple[tuple[tuple[str, ...], ...], ...]  # decoded, [text][layer][k]


def _last_position_probs(
    model: SteerableModel,
    texts: list[str],
    layers: list[int],
    batch_size: int,
    progress: bool,
    desc: str,
) -> Iterator[tuple[int, Float[Tensor, "batch layer vocab"]]]:
    """(first text index, lens probabilities at each text's last position) per batch of texts.

    One batch's full-vocabulary probabilities at a time: callers reduce them before the next.
    """
    norm = model.bridge.original_model.get_decoder().norm
    for start in tqdm(
        range(0, len(texts), batch_size), desc=desc, disable=not progress, leave=False
    ):
        batch = encode_batch(
            model, texts[start : start + batch_size], indices=range(start, len(texts))
        )
        last = batch.lengths - 1
        captured: dict[int, Tensor] = {}

        def keep(layer: int, captured=captured, last=last):
            def hook(resid: Tensor, hook) -> None:
                # to the final norm's device: under a device_map the layers sit on several GPUs
                captured[layer] = resid[torch.arange(resid.shape[0]), last.to(resid.device)].to(
                    norm.weight.device
                )

            return hook

        run_to_layer(model, batch, max(layers), [(layer, keep(layer)) for layer in layers])
        stacked = torch.stack(
            [captured[layer] for layer in layers], dim=1
        )  # [batch, layer, d_model]
        yield start, model.unembed(norm(stacked)).softmax(dim=-1)


@torch.inference_mode()
def logit_lens_topk(
    model: SteerableModel,
    texts: Sequence[str],
    layers: int | Sequence[int],
    k: int = 10,
    batch_size: int = 8,
    progress: bool = True,
) -> LensTopK:
    """Top-``k`` tokens and probabilities of the logit lens at ``layers`` (any active
    :func:`mlsteer.steer` applies, so base and steered lenses come from the same call)."""
    texts = check_texts(texts)
    layers = check_layers(model, layers)
    ids_out, probs_out = [], []
    for _, probs in _last_position_probs(model, texts, layers, batch_size, progress, "logit lens"):
        top = probs.topk(k, dim=-1)
        ids_out.append(top.indices.cpu())
        probs_out.append(top.values.cpu())
    token_ids = torch.cat(ids_out)
    decode = model.tokenizer.convert_ids_to_tokens
    tokens = tuple(tuple(tuple(decode(row.tolist())) for row in per_text) for per_text in token_ids)
    return LensTopK(tuple(layers), token_ids, torch.cat(probs_out), tokens)


@torch.inference_mode()
def logit_lens_mass(
    model: SteerableModel,
    texts: Sequence[str],
    layers: int | Sequence[int],
    token_sets: Sequence[Sequence[Sequence[int]]],
    batch_size: int = 8,
    progress: bool = True,
) -> Float[Tensor, "text layer set"]:
    """Summed logit-lens probability of ``token_sets[i][j]`` at text ``i``'s last position.

    Every text has the same number of sets (e.g. English answer tokens, target answer tokens);
    an id repeated within a set counts once, an empty set has mass 0. Steering-aware like
    :func:`logit_lens_topk`. Memory stays at one batch of full-vocabulary probabilities.
    """
    texts = check_texts(texts)
    layers = check_layers(model, layers)
    sets = _check_token_sets(token_sets, len(texts), lens_vocab_size(model))
    out = torch.zeros(len(texts), len(layers), len(sets[0]))
    for start, probs in _last_position_probs(
        model, texts, layers, batch_size, progress, "logit lens mass"
    ):
        for row, text_probs in enumerate(probs):  # [layer, vocab]
            for column, ids in enumerate(sets[start + row]):
                if ids:
                    index = torch.tensor(ids, device=text_probs.device)
                    out[start + row, :, column] = text_probs[:, index].sum(-1).float().cpu()
    return out


def _check_token_sets(
    token_sets: Sequence[Sequence[Sequence[int]]], n_texts: int, vocab: int
) -> list[list[list[int]]]:
    """Token sets as sorted, de-duplicated id lists; raise on a count or id the lens can't use."""
    sets = [[sorted({int(i) for i in ids}) for ids in per_text] for per_text in token_sets]
    if len(sets) != n_texts:
        raise MlsteerError(
            f"{len(sets)} token-set lists for {n_texts} texts; pass one list of sets per text"
        )
    widths = {len(per_text) for per_text in sets}
    if widths == {0}:
        raise EmptyInputError(
            "every text has no token sets; pass at least one set (a list of token ids) per text"
        )
    if len(widths) > 1:
        raise MlsteerError(
            f"texts have different numbers of token sets ({sorted(widths)}); pass the same number per text"
        )
    bad = [i for per_text in sets for ids in per_text for i in ids if not 0 <= i < vocab]
    if bad:
        raise MlsteerError(
            f"token id {bad[0]} is outside the model's vocabulary 0..{vocab - 1}; use ids from its tokenizer"
        )
    return sets


def lens_vocab_size(model: SteerableModel) -> int:
    """Rows of the unembedding: the size of the lens's vocabulary axis."""
    return int(model.bridge.original_model.get_output_embeddings().weight.shape[0])


def lens_vocabulary(model: SteerableModel) -> list[str]:
    """The token string of every unembedding row, for matching lens tokens against words.

    SentencePiece tokens keep their ``▁`` marker; byte-level BPE tokens (Llama 3, the tiny
    models) are turned back into text (``Ġ`` becomes a space, byte runs become UTF-8; tokens
    holding half a character become ``""``), so non-Latin words can match. Rows the tokenizer
    has no token for are ``""``.
    """
    tokenizer = model.tokenizer
    size = lens_vocab_size(model)
    known = min(size, len(tokenizer))
    tokens = [token or "" for token in tokenizer.convert_ids_to_tokens(list(range(known)))] + [
        ""
    ] * (size - known)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and type(backend.decoder).__name__ == "ByteLevel":
        tokens = [_byte_level_text(token) for token in tokens]
    return tokens


@lru_cache(maxsize=1)
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's byte-to-printable-character table, inverted (character -> byte)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, shift = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + shift)] = byte
            shift += 1
    return chars


def _byte_level_text(token: str) -> str:
    table = _byte_level_alphabet()
    if not all(char in table for char in token):
        return token  # a special or added token, stored as plain text
    try:
        return bytes(table[char] for char in token).decode("utf-8")
    except UnicodeDecodeError:
        return ""
