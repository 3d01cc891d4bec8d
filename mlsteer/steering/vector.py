"""`SteeringVector`: a learned direction at one layer, with the facts needed to apply it safely.

Files are ``.safetensors`` (the tensor) with a JSON header (everything else); never pickle.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from jaxtyping import Float
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from mlsteer.errors import IncompatibleVectorError, InvalidVectorError, MlsteerError
from mlsteer.models.wrapper import SteerableModel

_FORMAT = "mlsteer.vector/1"


@dataclass(frozen=True)
class SteeringVector:
    """A vector added to ``blocks.{layer}.hook_resid_post``.

    Attributes:
        vector: the direction, float32 ``[d_model]``.
        layer: the layer it was learned at and is applied at.
        method: the learner that made it (``meandiff``, ``mse``, ``bipo``...).
        model_fingerprint: ``name@confighash`` of the model it was learned on.
        resid_norm: mean residual norm at ``layer`` on the training texts, so alpha can be
            given relative to it (norms grow with depth: a fixed alpha means different things).
        train_hash: hash of the training data.
        info: free-form details (languages, sizes, losses).
    """

    vector: Float[Tensor, " d_model"]
    layer: int
    method: str
    model_fingerprint: str
    resid_norm: float = float("nan")
    train_hash: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        vector = self.vector
        if not isinstance(vector, Tensor) or vector.ndim != 1 or vector.numel() == 0:
            shape = tuple(vector.shape) if isinstance(vector, Tensor) else type(vector).__name__
            raise InvalidVectorError(f"a steering vector must be a 1-D tensor [d_model]; got {shape}")
        bad = int((~torch.isfinite(vector)).sum())
        if bad:
            raise InvalidVectorError(
                f"steering vector ({self.method}, layer {self.layer}) has {bad} NaN/inf entries; "
                "re-learn it (check the training activations and learning rate for NaN/inf)"
            )
        object.__setattr__(self, "vector", vector.detach().to(torch.float32).cpu().contiguous())

    @property
    def d_model(self) -> int:
        return int(self.vector.shape[0])

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.hook_resid_post"

    def negated(self) -> SteeringVector:
        """The same vector pointing the other way (a control)."""
        return replace(self, vector=-self.vector, method=f"{self.method}:negated")

    def random_like(self, seed: int = 0) -> SteeringVector:
        """A random direction of the same norm (a control), seeded."""
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(self.d_model, generator=generator)
        return replace(
            self, vector=direction * (self.norm / direction.norm()), method=f"{self.method}:random{seed}"
        )

    def check_compatible(self, model: SteerableModel, allow_other_model: bool = False) -> None:
        """Raise if this vector cannot be applied to ``model``.

        A d_model mismatch is always an error; a fingerprint mismatch (same width, another
        model) is one unless ``allow_other_model`` says the user means it.
        """
        if self.d_model != model.d_model:
            raise IncompatibleVectorError(
                f"vector has d_model {self.d_model} but {model.name} has d_model {model.d_model}; "
                f"it was learned on {self.model_fingerprint}: load that model or re-learn the vector"
            )
        if self.model_fingerprint != model.fingerprint and not allow_other_model:
            raise IncompatibleVectorError(
                f"vector was learned on {self.model_fingerprint}, not on {model.fingerprint}; "
                "load that model, re-learn the vector, or pass allow_other_model=True "
                "(--allow-other-model) if you mean to transfer it"
            )
        model.check_layer(self.layer)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.safetensors): the tensor plus a JSON header with every field."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in asdict(self).items() if k != "vector"}
        meta.update(d_model=self.d_model, norm=self.norm, hook_name=self.hook_name)
        header = {"format": _FORMAT, "meta": json.dumps(meta, default=_json_default)}
        tmp = path.with_name(path.name + ".partial")
        save_file({"vector": self.vector}, str(tmp), metadata=header)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> SteeringVector:
        """Read a file written by :meth:`save`."""
        if not Path(path).is_file():
            raise MlsteerError(f"no vector file at {path}; check the path (learn one with mlsteer learn)")
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            if header.get("format") != _FORMAT:
                raise MlsteerError(f"{path} is not an mlsteer vector file (no {_FORMAT} header)")
            vector = handle.get_tensor("vector")
        meta = json.loads(header["meta"])
        for derived in ("d_model", "norm", "hook_name"):
            meta.pop(derived, None)
        resid_norm = meta.pop("resid_norm", None)
        return cls(vector=vector, resid_norm=math.nan if resid_norm is None else resid_norm, **meta)


def _json_default(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
