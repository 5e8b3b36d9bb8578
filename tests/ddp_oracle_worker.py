"""Run under ``torchrun --nproc_per_node=2`` by test_distributed.py (not a test itself).

Each rank asks a RankZeroOracle the same images, and reports how many images its own
teacher answered, what it received, and which training indices it was given.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch.distributed as dist

from fsbbt.core import distributed
from fsbbt.teacher import QueryOracle
from fsbbt.teacher.rank_zero import RankZeroOracle


class CountingTeacher:
    input_shape = (1, 4, 4)
    class_names = ("a", "b", "c")

    def __init__(self) -> None:
        self.images_answered = 0

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray:
        self.images_answered += len(images_uint8)
        logits = images_uint8.reshape(len(images_uint8), -1)[:, :3].astype(np.float64)
        exp = np.exp(logits / 64.0)
        return exp / exp.sum(axis=1, keepdims=True)


def main(out_path: str) -> None:
    state = distributed.init_distributed("cpu")
    teacher = CountingTeacher()
    oracle = RankZeroOracle(QueryOracle(teacher, batch_size=7))
    images = np.random.default_rng(0).integers(0, 256, (20, 1, 4, 4), dtype=np.uint8)
    probs = oracle.query(images)
    probs_again = oracle.query(images[:5])
    batches = distributed.rank_batches(np.random.default_rng(1).permutation(11), 4)
    report = {
        "rank": state.rank,
        "images_answered": teacher.images_answered,
        "probs": probs.tolist(),
        "probs_again": probs_again.tolist(),
        "queries_sent": oracle.queries_sent,
        "from_ledger": oracle.usage()["from_ledger"],
        "batches": [b.tolist() for b in batches],
    }
    reports = [None] * state.world_size
    dist.all_gather_object(reports, report)
    if distributed.is_main_process():
        with open(out_path, "w") as handle:
            json.dump(reports, handle)
    distributed.shutdown_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
