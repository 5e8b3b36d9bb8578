"""The query ledger: every teacher answer ever paid for, durable across crashes and re-runs.

A SQLite file in the run directory (WAL mode) maps an image's key (SHA-256 of its shape
and uint8 bytes, see :func:`~fsbbt.teacher.blackbox.image_keys`) to the float32
probabilities the teacher returned. Answers are committed one batch per transaction, so a
run killed with SIGKILL loses at most the batch in flight, and the same command started
again finds everything answered before and pays for nothing twice. Without a path the
ledger lives in memory (library use, no run directory).
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fsbbt.core.errors import FsbbtError

LEDGER_FILE = "ledger.sqlite"
# SQLite's default limit on host parameters is 999 on old builds; stay under it.
_LOOKUP_CHUNK = 900


class QueryLedger:
    """Image key → teacher probabilities, for one teacher (its fingerprint is stored)."""

    def __init__(self, path: Path | None, teacher_fingerprint: str, num_classes: int) -> None:
        self.path = path
        self.num_classes = num_classes
        where = str(path) if path is not None else "memory"
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                ":memory:" if path is None else str(path), isolation_level=None, check_same_thread=False
            )
            if path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process (not a power cut), at a
                # fraction of FULL's fsync cost.
                self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, probs BLOB NOT NULL)")
            # lifetime totals of the run directory: retries, timeouts of a remote teacher
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
            )
            self._check_owner(teacher_fingerprint, where)
        except sqlite3.DatabaseError as exc:
            raise FsbbtError(
                f"query ledger {where} is not a usable SQLite file ({exc}); "
                "move it away to start a fresh ledger"
            ) from exc

    def _check_owner(self, teacher_fingerprint: str, where: str) -> None:
        """Refuse a ledger filled by another teacher: its answers would be silently wrong."""
        expected = {"teacher": teacher_fingerprint, "num_classes": str(self.num_classes)}
        stored = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if not stored:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO meta VALUES (?, ?)", expected.items())
            return
        if stored != expected:
            raise FsbbtError(
                f"query ledger {where} holds answers of a different teacher "
                f"({stored.get('teacher')}, {stored.get('num_classes')} classes); "
                "use a new --out directory for this teacher"
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def lookup(self, keys: list[str]) -> dict[str, np.ndarray]:
        """The stored answers among ``keys`` (missing keys are simply absent)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, probs FROM answers WHERE key IN ({marks})", chunk)
            for key, blob in rows:
                probs = np.frombuffer(blob, dtype=np.float32)
                if probs.shape != (self.num_classes,):
                    raise FsbbtError(
                        f"query ledger {self.path} has a damaged answer for "
                        f"{key[:12]}; move the ledger away to start afresh"
                    )
                found[key] = probs
        return found

    def store(self, keys: list[str], probs: np.ndarray) -> None:
        """Commit one batch of validated answers in one transaction: all or nothing."""
        rows = [
            (key, np.ascontiguousarray(row, dtype=np.float32).tobytes())
            for key, row in zip(keys, probs, strict=True)
        ]
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO answers VALUES (?, ?)", rows)

    def add_counts(self, counts: dict[str, int]) -> None:
        """Add to the lifetime counters (e.g. a remote teacher's retries) in one transaction."""
        increments = [(name, int(value)) for name, value in counts.items() if value]
        if not increments:
            return
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO "
                "UPDATE SET value = value + excluded.value",
                increments,
            )

    def counts(self) -> dict[str, int]:
        """The lifetime counters, every run in this directory added up."""
        return dict(self._db.execute("SELECT name, value FROM counters").fetchall())

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the ledger alone while one query looks up, checks the budget and stores.

        Seeds running in several processes (``fsbbt run --jobs``) share one ledger file.
        Without this, two of them could both see the same image missing, or both see
        room left in the budget, and pay twice or overspend. An advisory lock on a file
        beside the ledger makes the query one step; a memory ledger needs none.
        """
        if self.path is None:
            yield
            return
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self) -> None:
        self._db.close()
