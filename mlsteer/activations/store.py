"""Save and load pooled activations as safetensors with metadata saying what they are."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from jaxtyping import Float
from safetensors.torch import load_file, save_file
from torch import Tensor

from mlsteer.errors import MlsteerError

_FORMAT = "mlsteer.activations/1"


@dataclass(frozen=True)
class ActivationMeta:
    """Where a set of activations came from: model, layers (columns, in order), pooling, texts."""

    model_fingerprint: str
    layers: tuple[int, ...]
    pooling: str
    include_bos: bool
    texts_hash: str
    n_texts: int


@dataclass(frozen=True)
class ActivationSet:
    """Pooled activations ``[text, layer, d_model]`` plus their metadata."""

    acts: Float[Tensor, "text layer d_model"]
    meta: ActivationMeta

    def at_layer(self, layer: int) -> Float[Tensor, "text d_model"]:
        """The column for ``layer``; raises naming the cached layers if it was not cached."""
        if layer not in self.meta.layers:
            raise MlsteerError(
                f"layer {layer} was not cached (cached layers: {list(self.meta.layers)}); "
                f"re-run cache_activations with layer {layer} included"
            )
        return self.acts[:, self.meta.layers.index(layer)]


def save_activations(path: str | os.PathLike, activations: ActivationSet) -> Path:
    """Write ``activations`` to ``path`` (.safetensors); the metadata goes in the header."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": _FORMAT, "meta": json.dumps(asdict(activations.meta))}
    tmp = path.with_name(path.name + ".partial")
    save_file({"acts": activations.acts.contiguous()}, str(tmp), metadata=header)
    os.replace(tmp, path)  # a killed save never leaves a truncated file under the real name
    return path


def load_activations(path: str | os.PathLike) -> ActivationSet:
    """Read a file written by :func:`save_activations`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    if header.get("format") != _FORMAT:
        raise MlsteerError(f"{path} is not an mlsteer activation file (no {_FORMAT} header)")
    meta = json.loads(header["meta"])
    meta["layers"] = tuple(meta["layers"])
    return ActivationSet(load_file(str(path))["acts"], ActivationMeta(**meta))
