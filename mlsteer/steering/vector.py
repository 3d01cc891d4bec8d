"""`SteeringVector` and `SteeringMap`: what gets applied at one layer, with the facts needed to
apply it safely (which model, which layer, how it was learned).

A vector is added (``h + alpha·v``, the paper's eq. 6); a map is the least-squares alignment of
INCLINE (``h + alpha·(hW + b - h)``). Files are ``.safetensors`` with a JSON header; see
:mod:`mlsteer.steering.files`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import IncompatibleVectorError, InvalidVectorError
from mlsteer.models.wrapper import SteerableModel


# (resid [batch, pos, d_model], mask [batch, pos]) -> steered resid
Applier = Callable[[Tensor, Tensor], Tensor]


def check_finite(tensor: Tensor, what: str) -> None:
    """Raise if ``tensor`` has NaN or inf entries."""
    bad = int((~torch.isfinite(tensor)).sum())
    if bad:
        raise InvalidVectorError(
            f"{what} has {bad} NaN/inf entries; re-learn it (check the training activations "
            "and learning rate for NaN/inf)"
        )


def check_compatible(
    d_model: int, fingerprint: str, layer: int, model: SteerableModel, allow_other_model: bool = False
) -> None:
    """Raise unless something learned on ``fingerprint`` with width ``d_model`` fits ``model``.

    A width mismatch is always an error; a fingerprint mismatch (same width, another model) is
    one unless ``allow_other_model`` says the user means to transfer it.
    """
    if d_model != model.d_model:
        raise IncompatibleVectorError(
            f"vector has d_model {d_model} but {model.name} has d_model {model.d_model}; "
            f"it was learned on {fingerprint}: load that model or re-learn the vector"
        )
    if fingerprint != model.fingerprint and not allow_other_model:
        raise IncompatibleVectorError(
            f"vector was learned on {fingerprint}, not on {model.fingerprint}; load that model, "
            "re-learn the vector, or pass allow_other_model=True (--allow-other-model) if you "
            "mean to transfer it"
        )
    model.check_layer(layer)


class _AtOneLayer:
    """What vectors and maps share: their hook, the compatibility check, one-entry files."""

    layer: int
    model_fingerprint: str
    d_model: int

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.hook_resid_post"

    def check_compatible(self, model: SteerableModel, allow_other_model: bool = False) -> None:
        """Raise if this cannot be applied to ``model`` (see :func:`check_compatible`)."""
        check_compatible(self.d_model, self.model_fingerprint, self.layer, model, allow_other_model)

    def save(self, path) -> Any:
        """Write this entry alone to ``path`` (.safetensors)."""
        from mlsteer.steering.files import save_steering

        return save_steering(path, [self])

    @classmethod
    def load(cls, path) -> Any:
        """Read a one-entry file written by :meth:`save`, checked to hold this class."""
        from mlsteer.steering.files import load_one

        return load_one(path, cls)


@dataclass(frozen=True)
class SteeringVector(_AtOneLayer):
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
        check_finite(vector, f"steering vector ({self.method}, layer {self.layer})")
        object.__setattr__(self, "vector", vector.detach().to(torch.float32).cpu().contiguous())

    @property
    def d_model(self) -> int:
        return int(self.vector.shape[0])

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    def delta(self, alpha: float, relative: bool = False) -> Float[Tensor, " d_model"]:
        """What gets added: ``alpha·v``, or with ``relative`` ``alpha·resid_norm·v/|v|`` (alpha as
        a fraction of the layer's mean residual norm)."""
        if not math.isfinite(alpha):
            raise InvalidVectorError(f"alpha is {alpha}; use a finite number")
        if not relative:
            return alpha * self.vector
        if not math.isfinite(self.resid_norm) or self.norm == 0:
            raise InvalidVectorError(
                "relative alpha needs the vector's resid_norm and a non-zero vector; this vector "
                f"has resid_norm={self.resid_norm}, norm={self.norm}: use scale='absolute'"
            )
        return alpha * self.resid_norm * self.vector / self.norm

    def prepare(self, alpha: float, relative: bool = False, device: str | torch.device = "cpu") -> Applier:
        """Validate ``alpha`` and return ``(resid, mask) -> resid + alpha·v`` at masked positions,
        with ``alpha·v`` computed once and already on ``device`` (no copy per forward pass)."""
        delta = self.delta(alpha, relative).to(device)

        def apply(resid: Tensor, mask: Tensor) -> Tensor:
            return resid + mask.to(resid.dtype).unsqueeze(-1) * delta.to(resid.dtype)

        return apply

    def apply(self, resid: Tensor, mask: Tensor, alpha: float, relative: bool = False) -> Tensor:
        """``resid + alpha·v`` at the positions in ``mask`` ``[batch, pos]``."""
        return self.prepare(alpha, relative, resid.device)(resid, mask.to(resid.device))

    def at_strength(self, alpha: float, relative: bool = False) -> SteeringVector:
        """The vector that adds, at alpha 1, what this one adds at ``alpha`` (bakes a chosen
        strength into a file; ``relative`` as in :meth:`delta`)."""
        if alpha == 1 and not relative:
            return self
        return replace(self, vector=self.delta(alpha, relative), info={**self.info, "strength": alpha, "relative": relative})

    def scaled(self, factor: float) -> SteeringVector:
        """``factor`` times the vector (bakes a chosen alpha into a file)."""
        return self if factor == 1 else replace(self, vector=self.vector * factor, info={**self.info, "scaled_by": factor})

    def negated(self) -> SteeringVector:
        """The same vector pointing the other way (a control)."""
        return replace(self, vector=-self.vector, method=f"{self.method}:negated")

    def random_like(self, seed: int = 0) -> SteeringVector:
        """A random direction of the same norm (a control), seeded."""
        generator = torch.Generator().manual_seed(seed)
        direction = torch.randn(self.d_model, generator=generator)
        scaled = direction * (self.norm / direction.norm())
        return replace(self, vector=scaled, method=f"{self.method}:random{seed}")



@dataclass(frozen=True)
class SteeringMap(_AtOneLayer):
    """An affine map applied at one layer: ``h + alpha·(hW + b - h)`` (INCLINE's least squares).

    ``alpha = 1`` replaces ``h`` by its mapped image; smaller values interpolate.
    """

    matrix: Float[Tensor, "d_model d_model"]
    bias: Float[Tensor, " d_model"]
    layer: int
    method: str
    model_fingerprint: str
    resid_norm: float = float("nan")
    train_hash: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d_model = self.bias.shape[0] if isinstance(self.bias, Tensor) and self.bias.ndim == 1 else -1
        if not isinstance(self.matrix, Tensor) or tuple(self.matrix.shape) != (d_model, d_model):
            shape = tuple(getattr(self.matrix, "shape", ()))
            raise InvalidVectorError(f"a steering map needs matrix [d, d] and bias [d]; got {shape} and d={d_model}")
        check_finite(self.matrix, f"steering map ({self.method}, layer {self.layer})")
        check_finite(self.bias, f"steering map bias ({self.method}, layer {self.layer})")
        object.__setattr__(self, "matrix", self.matrix.detach().to(torch.float32).cpu().contiguous())
        object.__setattr__(self, "bias", self.bias.detach().to(torch.float32).cpu().contiguous())

    @property
    def d_model(self) -> int:
        return int(self.bias.shape[0])

    def prepare(self, alpha: float, relative: bool = False, device: str | torch.device = "cpu") -> Applier:
        """Validate ``alpha`` and return ``(resid, mask) -> resid + alpha·(resid W + b - resid)``
        at masked positions, with W and b already on ``device``."""
        if relative:
            raise InvalidVectorError("a steering map has no relative scale; use scale='absolute'")
        if not math.isfinite(alpha):
            raise InvalidVectorError(f"alpha is {alpha}; use a finite number")
        matrix, bias = self.matrix.to(device), self.bias.to(device)

        def apply(resid: Tensor, mask: Tensor) -> Tensor:
            mapped = resid @ matrix.to(resid.dtype) + bias.to(resid.dtype)
            return resid + alpha * mask.to(resid.dtype).unsqueeze(-1) * (mapped - resid)

        return apply

    def apply(self, resid: Tensor, mask: Tensor, alpha: float, relative: bool = False) -> Tensor:
        """``resid + alpha·(resid W + b - resid)`` at the positions in ``mask``."""
        return self.prepare(alpha, relative, resid.device)(resid, mask.to(resid.device))

    def at_strength(self, alpha: float, relative: bool = False) -> SteeringMap:
        """The map that does at alpha 1 what this one does at ``alpha``: ``h + alpha·(hW + b - h)``
        is itself affine, ``h (I + alpha (W - I)) + alpha b``."""
        if relative:
            raise InvalidVectorError("a steering map has no relative scale; use scale='absolute'")
        if alpha == 1:
            return self
        eye = torch.eye(self.d_model)
        return replace(self, matrix=eye + alpha * (self.matrix - eye), bias=alpha * self.bias,
                       info={**self.info, "strength": alpha})

    def negated(self) -> SteeringMap:
        """The map that moves every residual the other way, ``h - (hW + b - h)`` (a control)."""
        eye = torch.eye(self.d_model)
        return replace(self, matrix=2 * eye - self.matrix, bias=-self.bias, method=f"{self.method}:negated")

    def random_like(self, seed: int = 0) -> SteeringMap:
        """A control that moves every residual by as much as this map does, in a random direction:
        the displacement ``hW + b - h`` turned by a seeded random orthogonal matrix Q, i.e.
        ``h + (hW + b - h) Q``."""
        generator = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(torch.randn(self.d_model, self.d_model, generator=generator, dtype=torch.float64))
        q = (q * torch.sign(torch.diagonal(r))).to(torch.float32)  # Haar-distributed, not biased by QR's signs
        eye = torch.eye(self.d_model)
        return replace(self, matrix=eye + (self.matrix - eye) @ q, bias=self.bias @ q, method=f"{self.method}:random{seed}")



Steering = SteeringVector | SteeringMap
