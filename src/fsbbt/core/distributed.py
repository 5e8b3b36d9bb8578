"""Data-parallel training under ``torchrun``: process group, sharding, rank-0-only work.

Nothing here changes a single-process run: without torchrun's environment variables
(``WORLD_SIZE`` unset or 1) every helper is the identity, so the training loops call
them unconditionally and run unchanged on one process or on K.

Under ``torchrun --nproc_per_node=K`` each process trains a replica; each step it takes
its share of one *global* batch of the configured size, DDP averages the gradients,
and rank 0 alone queries the teacher, logs and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError


@dataclass(frozen=True)
class DistributedState:
    """Which process this is, how many there are, and where it computes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


_state = DistributedState()


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise FsbbtError(
            f"environment variable {name}={raw!r} is not an integer; launch with torchrun, which sets it"
        ) from exc


def choose_device(requested: str | None, local_rank: int = 0) -> torch.device:
    """``requested`` if given (``cpu``, ``cuda``, ``cuda:1``), else this rank's GPU, else CPU."""
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as exc:
            raise FsbbtError(f"--device {requested!r} is not a device; use cpu or cuda") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise FsbbtError(f"--device {requested} asked for CUDA but no GPU is visible; use --device cpu")
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device: str | None = None) -> DistributedState:
    """Join torchrun's process group if launched by it; pick the device either way.

    Backend: NCCL when computing on CUDA, gloo on CPU. Ranks other than 0 are made
    quiet, so progress bars and status lines appear once.
    """
    global _state
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    chosen = choose_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if chosen.type == "cuda":
            torch.cuda.set_device(chosen)
        dist.init_process_group(backend="nccl" if chosen.type == "cuda" else "gloo")
    _state = DistributedState(rank, world_size, local_rank, chosen)
    if rank != 0:
        progress.set_quiet(True)
    return _state


def shutdown_distributed() -> None:
    """Leave the process group (a no-op in a single process)."""
    global _state
    if dist.is_initialized():
        dist.destroy_process_group()
    _state = DistributedState(device=_state.device)


def current() -> DistributedState:
    """The state set by :func:`init_distributed` (one CPU process if it was never called)."""
    return _state


def is_main_process() -> bool:
    """True on rank 0, the only process that queries the teacher, logs and writes files."""
    return _state.rank == 0


def barrier() -> None:
    """Wait until every rank arrives (e.g. rank 0 has written a file the others read)."""
    if _state.is_distributed:
        dist.barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (pickled; for small things: answers, checkpoints)."""
    if not _state.is_distributed:
        return value
    holder = [value if is_main_process() else None]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def sum_over_ranks(value: float) -> float:
    """The sum of a per-rank number over all ranks (e.g. the epoch's loss)."""
    if not _state.is_distributed:
        return value
    total = torch.tensor([value], dtype=torch.float64, device=_state.device)
    dist.all_reduce(total)
    return float(total.item())


def average_over_ranks_(tensor: torch.Tensor) -> None:
    """Replace a per-rank tensor by its mean over all ranks, in place."""
    if _state.is_distributed:
        dist.all_reduce(tensor)
        tensor /= _state.world_size


def wrap_model(model: nn.Module) -> nn.Module:
    """``model`` on this rank's device; wrapped in DDP (which averages gradients) if distributed.

    DDP also broadcasts rank 0's initial weights, so every replica starts identical.
    """
    model.to(_state.device)
    if not _state.is_distributed:
        return model
    device_ids = [_state.device.index] if _state.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def rank_batches(order: np.ndarray, global_batch_size: int) -> list[np.ndarray]:
    """This rank's index batches for one epoch of the shared permutation ``order``.

    Exactly what ``DistributedSampler(shuffle, drop_last=False)`` followed by a per-rank
    batch of ``global_batch_size / world_size`` gives: the order is padded by wrapping
    round to a multiple of the world size, rank r takes positions r, r+K, r+2K, ... and
    cuts them into equal per-rank batches. Step s on all ranks together covers global
    positions [s·B, (s+1)·B), i.e. the single-process batch s. Slicing the permutation we
    already draw (rather than using the sampler's own torch generator) keeps a
    one-process run identical to the plain loop.
    """
    world_size, rank = _state.world_size, _state.rank
    if global_batch_size % world_size:
        raise FsbbtError(
            f"batch size {global_batch_size} is not divisible by the "
            f"{world_size} processes; choose a batch size that is a multiple of "
            "--nproc_per_node × nodes"
        )
    padding = (-len(order)) % world_size
    padded = np.concatenate([order, order[:padding]]) if padding else order
    shard = padded[rank::world_size]
    per_rank = global_batch_size // world_size
    return [shard[start : start + per_rank] for start in range(0, len(shard), per_rank)]
