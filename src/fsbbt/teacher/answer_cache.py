"""The teacher server's memory of recent answers, by the request's ``Idempotency-Key``.

A client that gives up on a slow answer and retries, or a run resumed after SIGKILL that
re-sends the batch it had in flight, asks the same question again. Without this the
teacher (often metered) would answer it again. With it, a repeated key is answered from
memory, and a repeat that arrives while the first is still being computed waits for that
computation instead of starting its own.

The computation runs as a task of its own, not as part of the request that started it:
the request's client may have given up (its handler cancelled), but the answer it paid
for is still kept for the retry that follows.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

DEFAULT_ANSWER_CACHE_BYTES = 64 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 256
"""What an entry costs besides its answer and key: digest, dict slots, array header (an estimate)."""


class KeyReused(Exception):
    """An Idempotency-Key sent again with different content: a client bug, never answered."""


@dataclass(frozen=True)
class _Entry:
    digest: str
    answer: np.ndarray
    size: int


class AnswerCache:
    """Key → answer, least recently used first out, within ``max_bytes``; and the keys in flight.

    Used from the event loop only. Nothing awaits between a lookup and the bookkeeping that
    follows it, so two requests can never both miss the same key and both compute.
    """

    def __init__(self, max_bytes: int = DEFAULT_ANSWER_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._in_flight: dict[str, tuple[str, asyncio.Future[np.ndarray]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def answer(
        self, key: str, digest: str, compute: Callable[[], Awaitable[np.ndarray]]
    ) -> tuple[np.ndarray, bool]:
        """The answer to the request ``key`` names, and whether it is a replay (not computed
        for this request). ``digest`` identifies the request's content: a key seen before
        with another digest raises :class:`KeyReused`."""
        entry = self._entries.get(key)
        if entry is not None:
            _same_content(key, entry.digest, digest)
            self._entries.move_to_end(key)
            return entry.answer, True
        if key in self._in_flight:
            first_digest, running = self._in_flight[key]
            _same_content(key, first_digest, digest)
            return await asyncio.shield(running), True
        running = asyncio.ensure_future(compute())
        self._in_flight[key] = (digest, running)
        running.add_done_callback(lambda done: self._finished(key, digest, done))
        return await asyncio.shield(running), False

    def _finished(self, key: str, digest: str, done: asyncio.Future[np.ndarray]) -> None:
        del self._in_flight[key]
        # exception() also marks a failure as seen: no "exception never retrieved" in the log
        # when every request waiting for it has gone
        if not done.cancelled() and done.exception() is None:
            self._store(key, digest, done.result())

    def _store(self, key: str, digest: str, answer: np.ndarray) -> None:
        size = answer.nbytes + len(key) + len(digest) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return
        self._entries[key] = _Entry(digest, answer, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size


def _same_content(key: str, first: str, now: str) -> None:
    if first != now:
        raise KeyReused(f"Idempotency-Key {key[:16]}… was sent before with different content")
