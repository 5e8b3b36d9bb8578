"""Where dataset files are looked for, in a fixed order, and the one error when all fail.

Order: an explicit directory (``--data-dir`` / config), ``$FSBBT_DATA``, the per-user
cache, known system locations, then a verified download into the cache.

A dataset published as one tar archive (CIFAR) names the files it needs inside the
archive (``members``): they are found already extracted in any searched folder, or
extracted from the archive found there or downloaded, always into the user cache (a
searched folder may be read-only).
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from fsbbt.core.errors import FsbbtError
from fsbbt.data.download import download_verified

Found = TypeVar("Found")


@dataclass(frozen=True)
class RemoteFile:
    """A file of a dataset with its canonical checksum (of the compressed file as published)."""

    filename: str
    sha256: str


@dataclass(frozen=True)
class FileSetSpec:
    """The files one dataset needs and everywhere they may be found.

    With ``members`` set, ``files`` is a single tar archive and ``members`` are the paths
    inside it the loader reads; ``also_accepted`` names any other layout the loader
    understands, for the error message.
    """

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = field(default_factory=tuple)
    members: tuple[str, ...] = field(default_factory=tuple)
    also_accepted: str = ""


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


def complete_in(directory: Path, spec: FileSetSpec) -> dict[str, Path] | None:
    """Map each wanted file to its path in ``directory``, or None if one is missing.

    Plain file sets may be gzip-compressed or not. Archive members may sit under the
    archive's own top folder (``cifar-10-batches-py/data_batch_1``) or directly in
    ``directory`` (the user pointed at that folder itself).
    """
    found = {}
    if spec.members:
        for member in spec.members:
            for path in (directory / member, directory / Path(member).name):
                if path.is_file():
                    found[member] = path
                    break
            else:
                return None
        return found
    for remote in spec.files:
        for name in (remote.filename, remote.filename.removesuffix(".gz")):
            if (directory / name).is_file():
                found[remote.filename] = directory / name
                break
        else:
            return None
    return found


def extract_members(archive: Path, members: tuple[str, ...], target: Path) -> None:
    """Copy ``members`` out of the tar ``archive`` into ``target``, each file atomically.

    Only the named members are read, and each is written under its own (constant,
    spec-given) name, so an archive's own paths can never escape ``target``. A kill
    mid-way leaves ``.part`` files, never a truncated member under its real name.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in members:
                source = tar.extractfile(member)
                if source is None:
                    raise KeyError(member)
                destination = target / member
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial = destination.with_name(destination.name + ".part")
                with source, open(partial, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                os.replace(partial, destination)
    except KeyError as exc:
        raise FsbbtError(
            f"{archive} has no member {exc.args[0]}; it is not the canonical "
            "archive: delete it and fetch it again"
        ) from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise FsbbtError(
            f"cannot extract {archive} ({type(exc).__name__}: {exc}); delete it and fetch it again"
        ) from exc


def locate(
    spec: FileSetSpec,
    data_dir: Path | None,
    probe: Callable[[Path], Found | None],
    allow_download: bool | None = None,
) -> Found:
    """The first searched folder that ``probe`` accepts, else the downloaded copy.

    ``probe`` looks at one folder and returns what the loader needs from it (or None);
    a loader that understands more than one layout (CIFAR pickles or an image tree)
    passes a probe that accepts either, so the search order stays the same for both.
    """
    tried: list[str] = []
    target = user_cache_dir() / spec.name
    for origin, directory in _candidate_dirs(spec, data_dir):
        found = probe(directory)
        if found is not None:
            return found
        if spec.members and (directory / spec.files[0].filename).is_file():
            extract_members(directory / spec.files[0].filename, spec.members, target)
            found = probe(target)
            if found is not None:
                return found
        tried.append(f"{directory} ({origin})")

    if allow_download is None:
        allow_download = os.environ.get("FSBBT_OFFLINE", "") in ("", "0")
    failures: list[str] = []
    if allow_download:
        extra = [m for m in os.environ.get("FSBBT_MIRRORS", "").split(",") if m]
        mirrors = extra + list(spec.mirrors)
        for remote in spec.files:
            if (target / remote.filename).is_file():
                continue
            failures = download_verified(mirrors, remote.filename, remote.sha256, target / remote.filename)
            if failures:
                break
        else:
            if spec.members:
                extract_members(target / spec.files[0].filename, spec.members, target)
            found = probe(target)
            if found is not None:
                return found
    else:
        failures = ["download disabled by FSBBT_OFFLINE"]

    wanted = ", ".join(f.filename for f in spec.files)
    if spec.members:
        top = spec.members[0].split("/")[0]
        wanted = f"{wanted}, or the {top}/ folder extracted from it"
    if spec.also_accepted:
        wanted = f"{wanted}, or {spec.also_accepted}"
    raise FsbbtError(
        f"{spec.name} not found. Looked in: {'; '.join(tried)}. Download: "
        f"{' | '.join(failures)}. Fix: put the files ({wanted}) in a folder and pass "
        f"--data-dir DIR (or set FSBBT_DATA)"
    )


def locate_files(
    spec: FileSetSpec, data_dir: Path | None = None, allow_download: bool | None = None
) -> dict[str, Path]:
    """Paths of every file in ``spec``, downloading into the cache when nothing local has them."""
    return locate(spec, data_dir, lambda directory: complete_in(directory, spec), allow_download)
