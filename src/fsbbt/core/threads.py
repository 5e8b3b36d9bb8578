"""How many CPU threads a training uses, and how many trainings run side by side.

OpenMP threads of one training meet at a barrier after every operation. On a machine
that also runs something else, one of them is descheduled now and then and the other
waits for it: on 2 cores beside one CPU-bound process, LeNet5-half trained with two
threads at 0.3× the speed of one thread (docs/reproduction.md, "Speed"). The small
networks of this field (LeNet5, the MLP CVAE) gain little from a second thread even on
an idle machine (1.0-1.3×), so they always train with one, and a second core trains a
second network in a worker process instead (:mod:`fsbbt.train.workers`): two
independent trainings scale 2× and share no barrier. Large networks (AlexNet, ResNet)
gain 1.7× from two threads; they get the cores a training may use, and OpenMP's
waiting is made passive (see :func:`passive_openmp_waiting`) so that a descheduled
thread costs its share of the work and not the whole step.

``--threads N``, ``FSBBT_THREADS=N`` or ``OMP_NUM_THREADS=N`` fixes every training's
thread count instead (and as many trainings run side by side as fit the CPUs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from fsbbt.core.errors import FsbbtError

if TYPE_CHECKING:  # torch is imported where used: the CLI calls passive_openmp_waiting before it loads
    from torch import nn

SMALL_NETWORK_MACS = 5_000_000
"""Multiply-accumulates per image below which a second thread is not worth its barrier
(LeNet5: 0.51 M, LeNet5-half: 0.18 M, the MLP CVAE on 28×28: 0.49 M; on 32×32 colour,
AlexNet-half: 20 M, the conv CVAE: 18 M, ResNet-20: 41 M)."""

P = ParamSpec("P")
R = TypeVar("R")
_explicit: int | None = None
_at_once: Callable[[], int] = lambda: 1  # noqa: E731 - replaced by a pool's live count


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _from_environment(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise FsbbtError(f"{name}={value!r} is not a positive whole number; set it to e.g. 1 or 2")
    return int(value)


def configure(threads: int | None) -> None:
    """Fix every training's thread count (``--threads``); None leaves it to the policy."""
    global _explicit
    _explicit = threads


def explicit_threads() -> int | None:
    """The thread count the user fixed: ``--threads``, else ``FSBBT_THREADS``, else
    ``OMP_NUM_THREADS`` (the variable every OpenMP program honours), if any."""
    if _explicit is not None:
        return _explicit
    return _from_environment("FSBBT_THREADS") or _from_environment("OMP_NUM_THREADS")


def macs_per_image(model: nn.Module, forward_one_image: Callable[[], object]) -> int:
    """Multiply-accumulates of ``model``'s convolutions and linear layers while
    ``forward_one_image`` runs it on one image (what decides whether threads pay)."""
    import torch
    from torch import nn

    total = 0

    def count(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, nn.Conv2d):  # each weight once per output position
            total += layer.weight.numel() * output.shape[-1] * output.shape[-2]
        elif isinstance(layer, nn.ConvTranspose2d):  # each weight once per input position
            total += layer.weight.numel() * inputs[0].shape[-1] * inputs[0].shape[-2]
        elif isinstance(layer, nn.Linear):
            total += layer.in_features * layer.out_features

    hooks = [
        layer.register_forward_hook(count)
        for layer in model.modules()
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    ]
    was_training = model.training
    model.eval()  # batch norms neither refuse one image nor learn from it
    try:
        with torch.no_grad():
            forward_one_image()
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def set_trainings_at_once(count: Callable[[], int]) -> None:
    """Tell this process how to count the trainings sharing its CPUs (a training
    worker: its pool's busy workers; a seed worker of ``--jobs K``: K)."""
    global _at_once
    _at_once = count


def trainings_at_once() -> int:
    """Trainings sharing this process's CPUs now: as set above, or torchrun's ranks here."""
    return max(_at_once(), int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def threads_for(macs: int) -> int:
    """Threads for one training of ``macs`` per image (the user's fixed count wins)."""
    fixed = explicit_threads()
    if fixed is not None:
        return fixed
    if macs < SMALL_NETWORK_MACS:
        return 1
    return max(1, usable_cpus() // trainings_at_once())


def parallel_trainings() -> int:
    """How many trainings may run side by side: one per usable CPU, or one per
    ``--threads`` of them when the user fixed the thread count."""
    return max(1, usable_cpus() // (explicit_threads() or 1))


def restores_thread_count(function: Callable[P, R]) -> Callable[P, R]:
    """Give torch's thread count back as it was when ``function`` returns: a training
    sets its own (:func:`threads_for`, every epoch) and must not leave it to the caller."""
    import functools

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        import torch

        before = torch.get_num_threads()
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return wrapper


def passive_openmp_waiting() -> None:
    """Ask OpenMP to sleep, not spin, when a thread waits at a barrier; set in the
    environment, so it holds only where torch is not yet loaded (``fsbbt``'s command
    line, its worker processes) and never over the user's own setting.

    Measured on 2 cores (AlexNet-half, two threads): beside a CPU-bound process 347
    against 189 images/s with the default spinning; idle, 507-554 against 644-684.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
