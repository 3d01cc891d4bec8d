"""`SteeringVector` and `SteeringMap`: what gets applied at one layer, with the facts needed to
apply it safely (which model, which layer, how it was learned).

A vector is added (``h + alpha·v``, the paper's eq. 6); a map is the least-squares alignment of
INCLINE (``h + alpha·(hW + b - h)``). Files are ``.safetensors`` with a JSON header; see
:mod:`mlsteer.steering.fileformat` (one entry) and :mod:`mlsteer.steering.files` (several).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, get_type_hints

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import IncompatibleVectorError, InvalidVectorError, MlsteerError
from mlsteer.io import corrupt
from mlsteer.models.wrapper import SteerableModel
from mlsteer.steering.fileformat import TENSORS, Entry, read_entries, write_entries

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


# Why warn past 100x: every block reads the residual through an RMSNorm, i.e. reads the direction
# of h + alpha·v. A shift 100 times the layer's mean residual norm leaves the text's own residual
# under 1% of that direction, so later layers see (almost) only the vector, and what comes out
# (empty text, one answer for every item) says nothing about steering the text. The paper's
# settings stay far below it (absolute alphas <= 2 on vectors shorter than the residual; relative
# alphas <= 0.2). Refused outright: a shift whose squares overflow float32 (past ~1.8e19), where
# the norm layers compute inf and every later number is 0 or NaN.
STRONG_SHIFT = 100.0
_MAX_SHIFT = math.sqrt(torch.finfo(torch.float32).max)


class StrongSteeringWarning(UserWarning):
    """A steering shift that dwarfs the residual stream it is added to."""


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float; raise unless it is a finite real number."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
        raise InvalidVectorError(f"alpha is {alpha!r}; use a finite number")
    return float(alpha)


def check_shift(norm: float, resid_norm: float, alpha: float, what: str) -> None:
    """Refuse a shift of norm ``norm`` that overflows float32; warn past ``STRONG_SHIFT`` times
    the layer's mean residual norm ``resid_norm`` (NaN: unknown, no warning)."""
    if not norm <= _MAX_SHIFT:  # also NaN and inf
        raise InvalidVectorError(
            f"alpha {alpha:g} shifts the residual by {norm:.3g} with {what}, which overflows float32 in the "
            "model's norm layers (every later number would be inf or NaN); use a much smaller alpha"
        )
    if math.isfinite(resid_norm) and resid_norm > 0 and norm > STRONG_SHIFT * resid_norm:
        warnings.warn(
            StrongSteeringWarning(
                f"alpha {alpha:g} shifts the residual by {norm:.3g} with {what}, {norm / resid_norm:.0f}x the layer's mean "
                f"residual norm {resid_norm:.3g}: later layers see almost only the vector, so outputs say little about "
                f"steering; alphas of a few times the norm or less are typical (scale='relative': alpha <= 1)"
            ),
            stacklevel=3,
        )


def check_compatible(
    d_model: int,
    fingerprint: str,
    layer: int,
    model: SteerableModel,
    allow_other_model: bool = False,
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

    KIND: ClassVar[str]  # its kind in files (fileformat.TENSORS names its tensors)
    layer: int
    model_fingerprint: str
    d_model: int

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.hook_resid_post"

    def check_compatible(self, model: SteerableModel, allow_other_model: bool = False) -> None:
        """Raise if this cannot be applied to ``model`` (see :func:`check_compatible`)."""
        check_compatible(self.d_model, self.model_fingerprint, self.layer, model, allow_other_model)

    def entry(self) -> Entry:
        """This as a file entry (its tensors by name, its other fields, its hook for readers)."""
        names = TENSORS[self.KIND]
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in names}  # type: ignore[arg-type]
        return Entry(
            self.KIND,
            {**plain, "hook_name": self.hook_name},
            {name: getattr(self, name) for name in names},
        )

    @classmethod
    def from_entry(cls, entry: Entry, path: str | Path, index: int = 0) -> Any:
        """The object an entry of ``path`` describes; keys missing, unknown or of the wrong type,
        or tensors it cannot hold, make the file corrupt."""
        hints = get_type_hints(cls)
        known = {f.name: f for f in fields(cls) if f.name not in TENSORS[cls.KIND]}  # type: ignore[arg-type]
        given = {k: v for k, v in entry.fields.items() if k != "hook_name"}
        extra = sorted(set(given) - set(known))
        missing = sorted(
            name
            for name, f in known.items()
            if name not in given and f.default is MISSING and f.default_factory is MISSING
        )
        wrong = sorted(k for k, v in given.items() if k in known and not _is_a(v, hints[k]))
        problems = [
            f"unknown key(s) {', '.join(extra)}" if extra else "",
            f"missing key(s) {', '.join(missing)}" if missing else "",
            f"key(s) of the wrong type: {', '.join(f'{k}={given[k]!r}' for k in wrong)}"
            if wrong
            else "",
        ]
        if any(problems):
            raise corrupt(path, f"entry {index}: " + "; ".join(filter(None, problems)))
        try:
            return cls(**entry.tensors, **given)
        except InvalidVectorError as error:
            raise corrupt(path, f"entry {index}: {error}") from None

    def save(self, path) -> Path:
        """Write this entry alone to ``path`` (.safetensors)."""
        return write_entries(path, [self.entry()])

    @classmethod
    def load(cls, path) -> Any:
        """Read a one-entry file written by :meth:`save`, checked to hold this class."""
        entries = read_entries(path)
        if len(entries) != 1 or entries[0].kind != cls.KIND:
            kinds = ", ".join(f"{e.kind}@layer{e.fields.get('layer')}" for e in entries)
            raise MlsteerError(
                f"{path} holds {len(entries)} entries ({kinds}), not one {cls.__name__}; "
                "use mlsteer.steering.load_steering for multi-layer files"
            )
        return cls.from_entry(entries[0], path)

    def _summary(self, *parts: str) -> str:
        """``Class(method, layer L, d_model D, ..., model FINGERPRINT)``: no tensor dump."""
        method = getattr(self, "method", "?")
        shown = [
            method,
            f"layer {self.layer}",
            f"d_model {self.d_model}",
            *parts,
            f"model {self.model_fingerprint}",
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def _is_a(value: Any, hint: Any) -> bool:
    """Whether a header value fits a field's type (JSON: ints may stand for floats, never bools)."""
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, getattr(hint, "__origin__", hint))


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
    KIND: ClassVar[str] = "vector"

    def __post_init__(self) -> None:
        vector = self.vector
        if not isinstance(vector, Tensor) or vector.ndim != 1 or vector.numel() == 0:
            shape = tuple(vector.shape) if isinstance(vector, Tensor) else type(vector).__name__
            raise InvalidVectorError(
                f"a steering vector must be a 1-D tensor [d_model]; got {shape}"
            )
        check_finite(vector, f"steering vector ({self.method}, layer {self.layer})")
        object.__setattr__(self, "vector", vector.detach().to(torch.float32).cpu().contiguous())

    @property
    def d_model(self) -> int:
        return int(self.vector.shape[0])

    @property
    def norm(self) -> float:
        return float(self.vector.norm())

    def __repr__(self) -> str:
        return self._summary(f"norm {self.norm:.4g}")

    def delta(self, alpha: float, relative: bool = False) -> Float[Tensor, " d_model"]:
        """What gets added: ``alpha·v``, or with ``relative`` ``alpha·resid_norm·v/|v|`` (alpha as
        a fraction of the layer's mean residual norm). Refused when it overflows; warned when
        it dwarfs the residual (see :func:`check_shift`)."""
        alpha = check_alpha(alpha)
        if relative and (not math.isfinite(self.resid_norm) or self.norm == 0):
            raise InvalidVectorError(
                "relative alpha needs the vector's resid_norm and a non-zero vector; this vector "
                f"has resid_norm={self.resid_norm}, norm={self.norm}: use scale='absolute'"
            )
        delta = (
            alpha * self.resid_norm * self.vector / self.norm if relative else alpha * self.vector
        )
        check_shift(
            float(delta.double().norm()),
            self.resid_norm,
            alpha,
            f"{self.method} at layer {self.layer}",
        )
        return delta

    def prepare(
        self,
        alpha: float,
        relative: bool = False,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Applier:
        """Validate ``alpha`` and return ``(resid, mask) -> resid + alpha·v`` at masked positions,
        with ``alpha·v`` computed once and already on ``device`` (no copy per forward pass);
        refused when ``alpha·v`` overflows the residuals' ``dtype`` (float16: past 65504)."""
        delta = self.delta(alpha, relative).to(device)
        if not bool(torch.isfinite(delta.to(dtype)).all()):
            raise InvalidVectorError(
                f"alpha {alpha:g} times this vector overflows {dtype}; use a smaller alpha or a wider dtype"
            )

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
        return replace(
            self,
            vector=self.delta(alpha, relative),
            info={**self.info, "strength": alpha, "relative": relative},
        )

    def scaled(self, factor: float) -> SteeringVector:
        """``factor`` times the vector (bakes a chosen alpha into a file)."""
        return (
            self
            if factor == 1
            else replace(self, vector=self.vector * factor, info={**self.info, "scaled_by": factor})
        )

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
    KIND: ClassVar[str] = "map"

    def __post_init__(self) -> None:
        d_model = (
            self.bias.shape[0] if isinstance(self.bias, Tensor) and self.bias.ndim == 1 else -1
        )
        if not isinstance(self.matrix, Tensor) or tuple(self.matrix.shape) != (d_model, d_model):
            shape = tuple(getattr(self.matrix, "shape", ()))
            raise InvalidVectorError(
                f"a steering map needs matrix [d, d] and bias [d]; got {shape} and d={d_model}"
            )
        check_finite(self.matrix, f"steering map ({self.method}, layer {self.layer})")
        check_finite(self.bias, f"steering map bias ({self.method}, layer {self.layer})")
        object.__setattr__(
            self, "matrix", self.matrix.detach().to(torch.float32).cpu().contiguous()
        )
        object.__setattr__(self, "bias", self.bias.detach().to(torch.float32).cpu().contiguous())

    @property
    def d_model(self) -> int:
        return int(self.bias.shape[0])

    def __repr__(self) -> str:
        eye = torch.eye(self.d_model)
        return self._summary(
            f"|W - I| {float((self.matrix - eye).norm()):.4g}", f"|b| {float(self.bias.norm()):.4g}"
        )

    def prepare(
        self,
        alpha: float,
        relative: bool = False,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> Applier:
        """Validate ``alpha`` and return ``(resid, mask) -> resid + alpha·(resid W + b - resid)``
        at masked positions, with W and b already on ``device``. (``dtype``: as for vectors; a
        map's shift depends on the residual, so only its float32 bound is checked here.)"""
        if relative:
            raise InvalidVectorError("a steering map has no relative scale; use scale='absolute'")
        alpha = check_alpha(alpha)
        # the shift of a residual of the layer's mean norm R is at most |alpha|·(|W - I|·R + |b|),
        # and |W - I| <= |W|_F + sqrt(d) (no d x d temporary per call)
        scale = self.resid_norm if math.isfinite(self.resid_norm) else 1.0
        moved = (float(self.matrix.norm()) + math.sqrt(self.d_model)) * scale
        check_shift(
            abs(alpha) * (moved + float(self.bias.norm())),
            float("nan"),
            alpha,
            f"the {self.method} map at layer {self.layer}",
        )
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
        if check_alpha(alpha) == 1:
            return self
        eye = torch.eye(self.d_model)
        return replace(
            self,
            matrix=eye + alpha * (self.matrix - eye),
            bias=alpha * self.bias,
            info={**self.info, "strength": alpha},
        )

    def negated(self) -> SteeringMap:
        """The map that moves every residual the other way, ``h - (hW + b - h)`` (a control)."""
        eye = torch.eye(self.d_model)
        return replace(
            self, matrix=2 * eye - self.matrix, bias=-self.bias, method=f"{self.method}:negated"
        )

    def random_like(self, seed: int = 0) -> SteeringMap:
        """A control that moves every residual by as much as this map does, in a random direction:
        the displacement ``hW + b - h`` turned by a seeded random orthogonal matrix Q, i.e.
        ``h + (hW + b - h) Q``."""
        generator = torch.Generator().manual_seed(seed)
        q, r = torch.linalg.qr(
            torch.randn(self.d_model, self.d_model, generator=generator, dtype=torch.float64)
        )
        q = (q * torch.sign(torch.diagonal(r))).to(
            torch.float32
        )  # Haar-distributed, not biased by QR's signs
        eye = torch.eye(self.d_model)
        return replace(
            self,
            matrix=eye + (self.matrix - eye) @ q,
            bias=self.bias @ q,
            method=f"{self.method}:random{seed}",
        )


Steering = SteeringVector | SteeringMap
