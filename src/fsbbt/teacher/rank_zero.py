"""The query oracle under torchrun: rank 0 asks the teacher, every rank gets the answer."""

from __future__ import annotations

from typing import Any

import numpy as np

from fsbbt.core.distributed import broadcast_object, is_main_process
from fsbbt.core.errors import FsbbtError


class RankZeroOracle:
    """A :class:`~fsbbt.teacher.QueryOracle` seen from every rank, asked on rank 0 only.

    Rank 0 sends the images through the real oracle (its cache, its ledger, its query
    count); the other ranks wait and receive the same probabilities. All ranks build the
    same images from the same seeds, so each call happens on every rank in the same
    order, which is what the broadcast needs. The counters are rank 0's, so results
    agree everywhere.
    """

    def __init__(self, oracle: Any) -> None:
        self._oracle = oracle
        self.batch_size = oracle.batch_size
        self.input_shape = oracle.input_shape
        self.class_names = oracle.class_names
        self.budget = oracle.budget
        self._usage: dict[str, int | None] = oracle.usage()

    @property
    def queries_sent(self) -> int:
        return int(self._usage["sent"] or 0)

    def usage(self) -> dict[str, int | None]:
        """Rank 0's counters (sent, from_ledger, budget), the same on every rank."""
        return self._usage

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def query(self, images_uint8: np.ndarray, description: str = "query teacher") -> np.ndarray:
        """The teacher's probabilities for ``images_uint8``, identical on every rank."""
        payload: tuple[Any, ...] | None = None
        if is_main_process():
            try:
                probs = self._oracle.query(images_uint8, description)
                payload = (probs, self._oracle.usage(), None)
            except FsbbtError as exc:  # the other ranks must not wait for an answer forever
                payload = (None, self._usage, str(exc))
        probs, self._usage, error = broadcast_object(payload)
        if error is not None:
            raise FsbbtError(error)
        return probs
