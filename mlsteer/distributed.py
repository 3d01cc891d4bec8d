"""Data parallelism on ``torch.distributed``, as launched by ``torchrun``; nothing home-made.

``torchrun --nproc-per-node N -m mlsteer eval ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` (and the rendezvous for several nodes); :func:`init` joins the process group
(``nccl`` on GPUs, ``gloo`` on CPUs). Until it has, and in a plain ``mlsteer eval``, every
function here acts as one process of one: no launcher is needed, and library calls such as
:func:`mlsteer.evaluation.runner.evaluate` split work only when the caller joined a group.

What the ranks share is a run folder on one filesystem. The evaluation runner gives each rank
every ``world``-th batch of the items still to do and its own ``results.rank{R}.sqlite``; rank 0
merges them into ``results.sqlite`` (:func:`mlsteer.evaluation.store.merge_shards`). Work with
side effects on shared files (model conversion, learning vectors, translation caches,
analyses, reports) runs on rank 0 first (:func:`main_first`) or only (:func:`is_main`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")

# Rank 0 may run an analysis or learn vectors while the others wait at a barrier: give the
# collective ops hours, not torch's default 10-30 min (override: MLSTEER_DIST_TIMEOUT seconds).
_DEFAULT_TIMEOUT_S = 6 * 3600


def launched() -> bool:
    """True when started by torchrun with more than one process (before or after :func:`init`)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def world_size() -> int:
    """Processes sharing the work: torchrun's world once :func:`init` has run, else 1."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's global rank once :func:`init` has run, else 0."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def local_rank() -> int | None:
    """This process's index on its node (which GPU it takes), or None without torchrun."""
    return int(os.environ.get("LOCAL_RANK", "0")) if launched() else None


def is_main() -> bool:
    """True on rank 0 (and in a single process)."""
    return rank() == 0


def init(device: torch.device) -> None:
    """Join the process group torchrun describes (once); a no-op in a single process.

    ``nccl`` when this rank computes on a GPU, ``gloo`` on CPUs.
    """
    if not launched() or dist.is_initialized():
        return
    timeout = timedelta(seconds=float(os.environ.get("MLSTEER_DIST_TIMEOUT", _DEFAULT_TIMEOUT_S)))
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", timeout=timeout, device_id=device)
    else:
        dist.init_process_group("gloo", timeout=timeout)


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if world_size() > 1:
        dist.barrier()


def finish() -> None:
    """Leave the process group (at the end of a command)."""
    if dist.is_initialized():
        barrier()
        dist.destroy_process_group()


@contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block, then the others do: for work that writes shared files and
    reuses them when present (model conversion, vector files), so ranks never race on them."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def my_share(items: Sequence[T]) -> list[T]:
    """Every ``world``-th item from this rank's index: a deterministic, disjoint, complete split
    of an order all ranks agree on."""
    return list(items[rank() :: world_size()])
