"""Where dataset files are looked for, in a fixed order, and the one error when all fail.

Order: an explicit directory (``--data-dir`` / config), ``$FSBBT_DATA``, the per-user
cache, known system locations, then a verified download into the cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fsbbt.data.download import download_verified
from fsbbt.errors import FsbbtError


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset with its canonical checksum (of the compressed file as published)."""

    filename: str
    sha256: str


@dataclass(frozen=True)
class FileSetSpec:
    """The files one dataset needs and everywhere they may be found."""

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = field(default_factory=tuple)


def user_cache_dir() -> Path:
    """``$FSBBT_CACHE``, else ``$XDG_CACHE_HOME/fsbbt``, else ``~/.cache/fsbbt``."""
    if os.environ.get("FSBBT_CACHE"):
        return Path(os.environ["FSBBT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fsbbt"


def _candidate_dirs(spec: FileSetSpec, data_dir: Path | None) -> list[tuple[str, Path]]:
    roots: list[tuple[str, Path]] = []
    if data_dir is not None:
        roots.append(("--data-dir", Path(data_dir)))
    if os.environ.get("FSBBT_DATA"):
        roots.append(("$FSBBT_DATA", Path(os.environ["FSBBT_DATA"])))
    roots.append(("user cache", user_cache_dir()))
    candidates = []
    for origin, root in roots:
        candidates += [(origin, root / spec.name), (origin, root)]
    candidates += [("system", d) for d in spec.system_dirs]
    return candidates


def _complete_in(directory: Path, spec: FileSetSpec) -> dict[str, Path] | None:
    """Map each wanted file to its path in ``directory`` (gzip or already decompressed)."""
    found = {}
    for remote in spec.files:
        for name in (remote.filename, remote.filename.removesuffix(".gz")):
            if (directory / name).is_file():
                found[remote.filename] = directory / name
                break
        else:
            return None
    return found


def locate_files(spec: FileSetSpec, data_dir: Path | None = None,
                 allow_download: bool | None = None) -> dict[str, Path]:
    """Paths of every file in ``spec``, downloading into the cache when nothing local has them."""
    tried: list[str] = []
    for origin, directory in _candidate_dirs(spec, data_dir):
        found = _complete_in(directory, spec)
        if found is not None:
            return found
        tried.append(f"{directory} ({origin})")

    if allow_download is None:
        allow_download = os.environ.get("FSBBT_OFFLINE", "") in ("", "0")
    failures: list[str] = []
    if allow_download:
        extra = [m for m in os.environ.get("FSBBT_MIRRORS", "").split(",") if m]
        mirrors = extra + list(spec.mirrors)
        target = user_cache_dir() / spec.name
        for remote in spec.files:
            if (target / remote.filename).is_file():
                continue
            failures = download_verified(mirrors, remote.filename, remote.sha256,
                                         target / remote.filename)
            if failures:
                break
        else:
            found = _complete_in(target, spec)
            if found is not None:
                return found
    else:
        failures = ["download disabled by FSBBT_OFFLINE"]

    raise FsbbtError(
        f"{spec.name} not found. Looked in: {'; '.join(tried)}. Download: "
        f"{' | '.join(failures)}. Fix: put the files ({', '.join(f.filename for f in spec.files)})"
        f" in a folder and pass --data-dir DIR (or set FSBBT_DATA)"
    )
