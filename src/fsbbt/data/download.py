"""Fetch a file from a list of mirrors, keep it only if its SHA-256 matches."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import httpx

from fsbbt.core import progress


def download_verified(
    mirrors: list[str], filename: str, sha256: str, destination: Path, timeout_s: float = 30.0
) -> list[str]:
    """Try each mirror in turn; write ``destination`` atomically once a copy verifies.

    Returns the list of failures (one line per mirror tried) so the caller can say
    what was tried; the list is empty on success. A partial or tampered download
    never reaches ``destination``: it is written to a temporary file first and only
    renamed into place after the checksum matches.
    """
    failures: list[str] = []
    destination.parent.mkdir(parents=True, exist_ok=True)
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        handle, temporary_name = tempfile.mkstemp(dir=destination.parent, suffix=".part")
        temporary = Path(temporary_name)
        try:
            digest = hashlib.sha256()
            with (
                os.fdopen(handle, "wb") as out,
                httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response,
            ):
                response.raise_for_status()
                total = int(response.headers.get("content-length", 0)) or None
                with progress.bar(f"download {filename}", total or 0, "B") as download_bar:
                    for chunk in response.iter_bytes(1 << 16):
                        out.write(chunk)
                        digest.update(chunk)
                        download_bar.advance(len(chunk))
            if digest.hexdigest() != sha256:
                failures.append(
                    f"{url}: checksum mismatch (got {digest.hexdigest()[:12]}…, expected {sha256[:12]}…)"
                )
                continue
            os.replace(temporary, destination)
            return []
        except (httpx.HTTPError, OSError) as exc:
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        finally:
            temporary.unlink(missing_ok=True)
    return failures
