"""The black-box boundary: uint8 images in, probability vectors out, every image counted.

Distillation code holds a :class:`QueryOracle` and nothing else of the teacher: it
cannot reach weights, gradients or logits, and every answer passes validation before
anyone sees it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np

from fsbbt.core import progress
from fsbbt.core.errors import FsbbtError
from fsbbt.teacher.ledger import LEDGER_FILE, QueryLedger


class BlackBoxTeacher(Protocol):
    """Anything that answers a uint8 N×C×H×W batch with an N×classes probability array."""

    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]

    def predict_proba(self, images_uint8: np.ndarray) -> np.ndarray: ...


TRANSPORT_COUNTS = ("retries", "timeouts", "replayed", "paid_twice")
"""What a remote teacher counts about its requests (``transport_counts()``), if it can:
requests retried, timeouts among their failures, images the server answered from its
idempotency cache, images re-sent after a timeout and answered again (maybe paid twice)."""


def transport_counts(teacher: object) -> dict[str, int]:
    """A teacher's transport counts so far in this process (zeros for a local one)."""
    counts = getattr(teacher, "transport_counts", None)
    found = counts() if callable(counts) else {}
    return {name: int(found.get(name, 0)) for name in TRANSPORT_COUNTS}


def validate_probabilities(answer: object, batch_size: int, num_classes: int, where: str) -> np.ndarray:
    """The answer as float32 N×C, or a one-line error saying what is wrong with it."""
    try:
        probs = np.asarray(answer, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise FsbbtError(
            f"teacher answer for {where} is not numeric ({exc}); check the teacher returns probabilities"
        ) from exc
    if probs.shape != (batch_size, num_classes):
        raise FsbbtError(
            f"teacher answer for {where} has shape {probs.shape}, expected "
            f"({batch_size}, {num_classes}); check the teacher's class count"
        )
    if not np.isfinite(probs).all():
        raise FsbbtError(f"teacher answer for {where} contains NaN or inf; check the teacher's output layer")
    if (probs < 0).any():
        raise FsbbtError(
            f"teacher answer for {where} has negative values; if it returns logits, declare output: logits"
        )
    row_sums = probs.sum(axis=1)
    if np.abs(row_sums - 1.0).max() > 1e-3:
        raise FsbbtError(
            f"teacher answer for {where} has rows summing to "
            f"{row_sums.min():.4f}..{row_sums.max():.4f}, not 1; if it returns "
            "logits, declare output: logits"
        )
    return probs


def image_keys(images_uint8: np.ndarray) -> list[str]:
    """SHA-256 of each image's shape and bytes: the identity of a query."""
    shape = "x".join(str(d) for d in images_uint8.shape[1:]).encode()
    return [hashlib.sha256(shape + b"|" + image.tobytes()).hexdigest() for image in images_uint8]


class QueryOracle:
    """The only handle distillation code gets on the teacher.

    Answers are kept in a :class:`~fsbbt.teacher.ledger.QueryLedger` by image hash, so an
    image asked for twice (by two methods, or by a re-run of a killed run) is paid for
    once. ``budget`` caps the answers the ledger may ever hold: the oracle refuses a query
    that would send image N+1. ``queries_sent`` counts images that reached the teacher in
    this process, ``answers_from_ledger`` the images answered from the ledger instead.
    """

    def __init__(
        self,
        teacher: BlackBoxTeacher,
        batch_size: int = 256,
        ledger: QueryLedger | None = None,
        budget: int | None = None,
    ) -> None:
        self._teacher = teacher
        self.batch_size = batch_size
        self.input_shape = tuple(teacher.input_shape)
        self.class_names = tuple(teacher.class_names)
        if ledger is None:
            ledger = QueryLedger(None, teacher_fingerprint(teacher), len(self.class_names))
        self.ledger = ledger
        self.budget = budget
        self.queries_sent = 0
        self.answers_from_ledger = 0
        # a remote teacher's transport counts before this oracle (its GET /v1/info)
        self._transport_before = transport_counts(teacher)

    @classmethod
    def keeping_answers_in(
        cls, directory: Path, teacher: BlackBoxTeacher, batch_size: int, budget: int | None = None
    ) -> QueryOracle:
        """An oracle whose answers persist in ``directory``'s ledger file, so every process
        and every re-run working in that directory pays for an image once."""
        ledger = QueryLedger(directory / LEDGER_FILE, teacher_fingerprint(teacher), len(teacher.class_names))
        return cls(teacher, batch_size, ledger, budget)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def query(self, images_uint8: np.ndarray, description: str = "query teacher") -> np.ndarray:
        """Teacher probabilities for each image, sending only images not answered before.

        The distinct images are cut into batches at fixed positions and each batch sends
        only its images missing from the ledger. Because a batch is committed whole, a
        resumed run meets the ledger in exactly the state the interrupted run left it at
        that batch, so the teacher receives the same batches in both.
        """
        if images_uint8.dtype != np.uint8 or tuple(images_uint8.shape[1:]) != self.input_shape:
            raise FsbbtError(
                f"images sent to the teacher must be uint8 {self.input_shape}, got "
                f"{images_uint8.dtype} {images_uint8.shape[1:]}"
            )
        keys = image_keys(images_uint8)
        with self.ledger.exclusive():
            answers = self._answer(images_uint8, keys, description)
        if not keys:
            return np.zeros((0, self.num_classes), np.float32)
        return np.stack([answers[k] for k in keys])

    def _answer(self, images_uint8: np.ndarray, keys: list[str], description: str) -> dict[str, np.ndarray]:
        """Key → answer for every distinct image: from the ledger, else from the teacher."""
        first_index: dict[str, int] = {}
        for i, key in enumerate(keys):
            first_index.setdefault(key, i)
        answers = self.ledger.lookup(list(first_index))
        self.answers_from_ledger += len(answers)
        unseen_count = len(first_index) - len(answers)
        self._check_budget(unseen_count)
        distinct = list(first_index.items())
        with progress.bar(description, unseen_count, "img") as query_bar:
            for start in range(0, len(distinct), self.batch_size):
                batch = [
                    (key, i) for key, i in distinct[start : start + self.batch_size] if key not in answers
                ]
                if not batch:
                    continue
                last = min(start + self.batch_size, len(distinct)) - 1
                where = f"batch {start // self.batch_size} (images {start}..{last} of {description!r})"
                probs = self._ask_teacher(images_uint8[[i for _, i in batch]], where)
                batch_keys = [key for key, _ in batch]
                self.ledger.store(batch_keys, probs)
                answers.update(zip(batch_keys, probs, strict=True))
                self.queries_sent += len(batch)
                query_bar.advance(len(batch))
        return answers

    def _check_budget(self, unseen_count: int) -> None:
        if self.budget is None or unseen_count == 0:
            return
        remaining = self.budget - len(self.ledger)
        if unseen_count > remaining:
            raise FsbbtError(
                f"this query needs {unseen_count} new teacher answers but only "
                f"{max(remaining, 0)} of the query budget {self.budget} remain; "
                "raise --query-budget or ask for fewer images"
            )

    def _ask_teacher(self, images_uint8: np.ndarray, where: str) -> np.ndarray:
        before = transport_counts(self._teacher)
        try:
            answer = self._teacher.predict_proba(images_uint8)
        except FsbbtError as exc:
            raise FsbbtError(f"teacher failed on {where}: {exc}") from exc
        finally:
            after = transport_counts(self._teacher)
            self.ledger.add_counts({name: after[name] - before[name] for name in after})
        return validate_probabilities(answer, len(images_uint8), self.num_classes, where)

    def usage(self) -> dict[str, int | None]:
        """The query account for results.json: what this process sent (and the transport
        counts of sending it: retries, timeouts, replays, images paid twice), and what the
        ledger has paid for in all, every earlier invocation in the same run directory
        included."""
        now = transport_counts(self._teacher)
        this_process = {name: now[name] - self._transport_before[name] for name in now}
        in_all = self.ledger.counts()
        return {
            "sent": self.queries_sent,
            "from_ledger": self.answers_from_ledger,
            "budget": self.budget,
            "paid_in_all": len(self.ledger),
            **this_process,
            **{f"{name}_in_all": in_all.get(name, 0) for name in this_process},
        }


def teacher_fingerprint(teacher: BlackBoxTeacher) -> str:
    """What identifies a teacher's answers: its own ``fingerprint`` if it has one."""
    own = getattr(teacher, "fingerprint", None)
    if own:
        return str(own)
    return f"{type(teacher).__module__}.{type(teacher).__qualname__}"
