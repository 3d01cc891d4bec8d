"""lm-evaluation-harness backend: ``--model mlsteer`` runs any harness task on a steered model.

:class:`MlsteerLM` answers the harness's three request types with mlsteer's own code, with the
steering vector active throughout:

- ``loglikelihood``: requests are grouped by context and scored by
  :func:`mlsteer.evaluation.scoring.score_continuations`, the shared-prefix scorer of
  ``mlsteer eval`` (each context runs once). Tokens as mlsteer's :class:`Query` scoring has them:
  the context with BOS, the continuation on its own without special tokens, so a request
  ``(ctx, cont)`` scores exactly what ``Query(ctx, (cont,))`` does. A context's trailing
  whitespace moves to the continuation first, as the harness's HF backend does (mlsteer's
  prompts never end in whitespace);
- ``loglikelihood_rolling``: the harness's disjoint rolling windows, after BOS, through the same
  scorer;
- ``generate_until``: :func:`mlsteer.steering.generate` (greedy, KV cache), stopping at
  ``until`` strings, EOS or ``max_gen_toks``.

Model args: ``model=`` (mlsteer name, folder or Hub id), ``vector=FILE|FOLDER`` (a folder of
``{lang}.safetensors`` needs ``lang=``), ``alpha=``, ``control=none|negated|random``, ``seed=``
(random control), ``layer=`` (one entry of a multi-layer file), ``device=``, ``dtype=``,
``batch_size=``, ``max_length=``, ``max_gen_toks=``.

:func:`task_folder` (from :mod:`mlsteer.integrations.local_tasks`) writes the local XCOPA / XNLI
task YAMLs for ``--include_path`` / ``TaskManager(include_path=...)``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
from tqdm.auto import tqdm

from mlsteer.errors import MlsteerError
from mlsteer.evaluation.scoring import TokenizedItem, score_continuations, score_tokenized
from mlsteer.evaluation.tasks.base import Query
from mlsteer.integrations.local_tasks import local_task_names, task_folder
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering import generate, steer
from mlsteer.steering.sources import load_for_model
from mlsteer.steering.vector import Steering

NAME = "mlsteer"
CONTROLS = ("none", "negated", "random")
__all__ = ["NAME", "MlsteerLM", "local_task_names", "task_folder"]


@register_model(NAME)
class MlsteerLM(LM):
    """A harness ``LM`` on an mlsteer :class:`SteerableModel`, steered while it answers.

    Pass ``model`` as a name (loaded with :func:`mlsteer.models.load_model`) or an already loaded
    :class:`SteerableModel` (Python use; nothing is loaded twice).
    """

    def __init__(
        self,
        model: str | SteerableModel = "gemma-3-270m",
        vector: str | os.PathLike | None = None,
        lang: str | None = None,
        alpha: float = 1.0,
        control: str | None = "none",
        seed: int = 0,
        layer: int | None = None,
        device: str | None = "cpu",
        dtype: str = "float32",
        batch_size: int | str | None = 32,
        max_length: int | None = None,
        max_gen_toks: int = 256,
        **unused: Any,
    ) -> None:
        super().__init__()
        control = control or "none"
        if control not in CONTROLS:
            raise MlsteerError(f"unknown control {control!r}; use one of: {', '.join(CONTROLS)}")
        if control != "none" and vector is None:
            raise MlsteerError(f"control={control} needs a vector; pass vector=FILE")
        if isinstance(model, SteerableModel):
            self.model = model
        else:
            from mlsteer.models import load_model

            self.model = load_model(str(model), device=device or "cpu", dtype=dtype)
        self.alpha = float(alpha)
        self.control = control
        self.items: list[Steering] = []
        self.vector_path: Path | None = None
        if vector is not None:
            self.vector_path, self.items = load_for_model(
                self.model,
                str(vector),
                lang,
                "" if control == "none" else control,
                int(seed),
                layer,
            )
        self.batch_size = _batch_size(batch_size)
        config = self.model.bridge.original_model.config
        self.max_length = int(max_length or getattr(config, "max_position_embeddings", 2048))
        self.max_gen_toks = int(max_gen_toks)
        self._device = self.model.device

    @property
    def tokenizer_name(self) -> str:
        return self.model.fingerprint

    @contextmanager
    def steering(self) -> Iterator[None]:
        """The vector (or control) active on the model within the block; nothing without one."""
        with steer(self.model, self.items, alpha=self.alpha) if self.items else nullcontext():
            yield

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(summed log-prob, is_greedy) of each continuation after its context."""
        pairs = [_move_trailing_space(*request.args) for request in requests]
        groups: dict[str, list[int]] = {}
        for index, (context, _) in enumerate(pairs):
            groups.setdefault(context, []).append(index)
        # one query per context (at most batch_size continuations: an empty context is shared by many)
        chunks = [
            rows[i : i + self.batch_size]
            for rows in groups.values()
            for i in range(0, len(rows), self.batch_size)
        ]
        queries = [Query(pairs[rows[0]][0], tuple(pairs[r][1] for r in rows)) for rows in chunks]
        with self.steering():
            scores = score_continuations(
                self.model, queries, self.batch_size, progress=not disable_tqdm
            )
        results: list[tuple[float, bool]] = [(0.0, False)] * len(pairs)
        for rows, values in zip(chunks, scores):
            for row, value in zip(rows, values):
                results[row] = value
                self.cache_hook.add_partial("loglikelihood", requests[row].args, value)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Log-likelihood of each whole string after BOS, in disjoint windows of ``max_length``."""
        tokenizer = self.model.tokenizer
        bos = (
            tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        )
        items, owners = [], []
        for number, request in enumerate(requests):
            ids = tokenizer(request.args[0], add_special_tokens=False)["input_ids"]
            for context, target in map(
                make_disjoint_window, get_rolling_token_windows(ids, bos, self.max_length, 1)
            ):
                items.append(TokenizedItem(list(context), (list(target),), (0,)))
                owners.append(number)
        with self.steering():
            scores = score_tokenized(self.model, items, self.batch_size, progress=not disable_tqdm)
        totals = [0.0] * len(requests)
        for owner, values in zip(owners, scores):
            totals[owner] += values[0][0]
        for request, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", request.args, total)
        return totals

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy continuations, cut at the first ``until`` string; batches share their settings."""
        settings = [self._generation_settings(request.args[1]) for request in requests]
        groups: dict[tuple, list[int]] = {}
        for index, setting in enumerate(settings):
            groups.setdefault(setting, []).append(index)
        results = [""] * len(requests)
        bar = tqdm(total=len(requests), desc="generate_until", disable=disable_tqdm, leave=False)
        for (until, max_new), rows in groups.items():
            rows = sorted(rows, key=lambda r: -len(requests[r].args[0]))
            for start in range(0, len(rows), self.batch_size):
                batch = rows[start : start + self.batch_size]
                with self.steering():
                    texts = generate(
                        self.model,
                        [requests[r].args[0] for r in batch],
                        max_new_tokens=max_new,
                        stop_strings=until,
                    ).texts
                for row, text in zip(batch, texts):
                    results[row] = text
                    self.cache_hook.add_partial("generate_until", requests[row].args, text)
                bar.update(len(batch))
        bar.close()
        return results

    def _generation_settings(self, kwargs: dict | None) -> tuple[tuple[str, ...], int]:
        """(stop strings, max new tokens) from a request's ``gen_kwargs``; sampling is refused."""
        kwargs = dict(kwargs or {})
        if kwargs.get("do_sample") and float(kwargs.get("temperature", 1.0)) > 0:
            raise MlsteerError(
                "mlsteer decodes greedily; run the task with --gen_kwargs do_sample=false"
            )
        until = kwargs.get("until") or ()
        until = (until,) if isinstance(until, str) else tuple(until)
        return until, int(kwargs.get("max_gen_toks", self.max_gen_toks))


def _move_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Trailing whitespace of the context goes to the continuation (as the harness's HF backend)."""
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


def _batch_size(value: int | str | None) -> int:
    """The harness's ``batch_size`` (``auto`` means mlsteer's default of 32)."""
    if value is None or str(value).startswith("auto"):
        return 32
    try:
        size = int(value)
    except ValueError:
        raise MlsteerError(
            f"batch_size {value!r} is not a number; pass an integer such as 32"
        ) from None
    if size < 1:
        raise MlsteerError(f"batch_size must be at least 1, got {size}")
    return size
