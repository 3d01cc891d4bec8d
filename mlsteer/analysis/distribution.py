"""Do a steering vector's training texts look like the benchmark's inputs to the model? (the
paper's Figure 8): a 2-D PCA of pooled activations of several groups (training corpus,
evaluation prompts) fitted on all of them together, plus how far apart the groups' centroids
are relative to how spread out each group is.

Pure tensor functions; activations come from
:func:`mlsteer.activations.collect.cache_activations` at one layer (``[text, d_model]``).
Dimension glossary: ``n`` texts of a group, ``d`` d_model, ``group`` the groups in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from mlsteer.errors import EmptyInputError, MlsteerError


@dataclass(frozen=True)
class Projection:
    """Groups projected on the first two principal components of their pooled activations.

    Attributes:
        coords: per group, its rows' (PC1, PC2) coordinates.
        explained: share of the total variance along PC1 and PC2.
        components: the two unit principal directions (sign fixed: largest entry positive).
        mean: the centre subtracted before projecting (mean of all rows of all groups).
        spread: per group, root-mean-square distance of its rows to their centroid (full space).
        separation: centroid distance between two groups over their pooled spread (full space):
            about 0 for groups from one distribution, above 1 when the clouds sit apart.
        separation_2d: the same measured in the PC plane, i.e. what the scatter plot shows.
    """

    groups: tuple[str, ...]
    coords: dict[str, Float[Tensor, "_n 2"]]
    explained: Float[Tensor, " 2"]
    components: Float[Tensor, "2 d"]
    mean: Float[Tensor, " d"]
    spread: Float[Tensor, " group"]
    separation: Float[Tensor, "group group"]
    separation_2d: Float[Tensor, "group group"]

    def distance(self, a: str, b: str, plane: bool = False) -> float:
        """:attr:`separation` (or, with ``plane``, :attr:`separation_2d`) of groups ``a`` and ``b``."""
        for name in (a, b):
            if name not in self.groups:
                raise MlsteerError(
                    f"no group {name!r} in this projection; it has: {', '.join(self.groups)}"
                )
        matrix = self.separation_2d if plane else self.separation
        return float(matrix[self.groups.index(a), self.groups.index(b)])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (lists and floats); the components and mean are left out."""
        return {
            "groups": list(self.groups),
            "coords": {name: xy.tolist() for name, xy in self.coords.items()},
            "explained": self.explained.tolist(),
            "spread": self.spread.tolist(),
            "separation": self.separation.tolist(),
            "separation_2d": self.separation_2d.tolist(),
        }


def pca_2d(groups: Mapping[str, Float[Tensor, "_n d"]]) -> Projection:
    """Fit a centred 2-component PCA (exact SVD, float64) on the rows of all ``groups`` together
    and project each group; signs are fixed so the same data always gives the same picture."""
    names, blocks = _check_groups(groups)
    rows = torch.cat(blocks)
    mean = rows.mean(0)
    centred = rows - mean
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    total = singular.square().sum()
    if total <= 0:
        raise MlsteerError(
            "every row is the same vector; there is no variance to project (check the activations)"
        )
    components = vh[:2]
    flip = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True)))  # [2, 1]
    components = components * flip
    explained = singular[:2].square() / total
    projected = [(block - mean) @ components.T for block in blocks]
    spread, separation = _separation(blocks)
    _, separation_2d = _separation(projected)
    return Projection(
        groups=names,
        coords={name: xy.float() for name, xy in zip(names, projected)},
        explained=explained.float(),
        components=components.float(),
        mean=mean.float(),
        spread=spread.float(),
        separation=separation.float(),
        separation_2d=separation_2d.float(),
    )


def _separation(
    blocks: list[Tensor],
) -> tuple[Float[Tensor, " group"], Float[Tensor, "group group"]]:
    """Per group the RMS distance to its centroid, and per pair of groups the distance between
    centroids over the pooled RMS spread sqrt((SS_a + SS_b) / (n_a + n_b))."""
    centroids = [block.mean(0) for block in blocks]
    squares = torch.stack(
        [(block - centroid).square().sum() for block, centroid in zip(blocks, centroids)]
    )
    counts = torch.tensor([float(block.shape[0]) for block in blocks], dtype=squares.dtype)
    spread = (squares / counts).sqrt()
    pooled = ((squares[:, None] + squares[None, :]) / (counts[:, None] + counts[None, :])).sqrt()
    distance = torch.cdist(torch.stack(centroids), torch.stack(centroids))
    # no spread at all: apart is infinitely far, together is 0
    separation = torch.where(
        pooled > 0, distance / pooled.clamp_min(1e-300), torch.where(distance > 0, torch.inf, 0.0)
    )
    return spread, separation.fill_diagonal_(0.0)


def _check_groups(groups: Mapping[str, Tensor]) -> tuple[tuple[str, ...], list[Tensor]]:
    if not groups:
        raise EmptyInputError(
            "no groups to project; pass at least one name -> [n, d_model] activations"
        )
    names, blocks = tuple(groups), []
    for name in names:
        block = groups[name]
        if block.ndim != 2:
            raise MlsteerError(
                f"group {name!r} has shape {tuple(block.shape)}; expected [n, d_model] (select one layer of "
                "cache_activations' [text, layer, d_model])"
            )
        if block.shape[0] == 0:
            raise EmptyInputError(
                f"group {name!r} has no rows; pass at least one activation per group"
            )
        if block.shape[1] != groups[names[0]].shape[1]:
            raise MlsteerError(
                f"group {name!r} has d={block.shape[1]} but {names[0]!r} has d={groups[names[0]].shape[1]}; "
                "pass activations of one model and layer"
            )
        if not torch.isfinite(block).all():
            raise MlsteerError(
                f"group {name!r} contains NaN/inf; re-cache the activations (check the model's dtype)"
            )
        blocks.append(block.detach().double().cpu())
    if sum(block.shape[0] for block in blocks) < 2 or blocks[0].shape[1] < 2:
        raise MlsteerError("PCA to 2-D needs at least 2 rows in all and d_model >= 2")
    return names, blocks
