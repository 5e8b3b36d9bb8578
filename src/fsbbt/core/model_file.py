"""The one way fsbbt reads a model file: teacher and student weights, training checkpoints,
stored CVAEs and TorchScript programs.

Model files arrive from elsewhere (a colleague's run directory, a download), so a file is
treated as hostile until read: tensors are loaded with ``torch.load(weights_only=True)``,
which refuses to unpickle anything but tensors and plain containers, so no file can run
code. What a file is (a ``torch.save`` file, a TorchScript program, something else) is
told from its bytes before anything is unpickled. Every way a file can be wrong (refused,
truncated, empty, another format, other contents, tensors that do not fit the network)
becomes one :class:`~fsbbt.core.errors.FsbbtError`, "cannot load <what> from <path>
(<problem>); <fix>", in fsbbt's own words: PyTorch's messages run to many lines and
advise ``weights_only=False``, the one thing a user must not do with a file they did not
write.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from fsbbt.core.errors import FsbbtError

TorchFormat = Literal["torch.save", "torchscript"]

_NAMES: dict[TorchFormat, str] = {"torch.save": "a torch.save file", "torchscript": "a TorchScript program"}
_ZIP_HEADER = b"PK\x03\x04"
# torch.save's legacy (non-zip) format opens with a pickled magic number; plain pickles do not
_LEGACY_MAGIC = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)[2:-1]
_HEAD_BYTES = 64  # the magic number follows the pickle header (and frame, protocol 4+)


def _inspect(path: Path) -> tuple[TorchFormat | None, str]:
    """The PyTorch format of ``path`` (or None) and what the file is, in words."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise FsbbtError(f"cannot read {path} ({exc.strerror}); check the path and its permissions") from exc
    if not head:
        return None, "empty"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                # torch puts every record in one top folder named after the file
                records = {name.partition("/")[2] for name in archive.namelist()}
        except (zipfile.BadZipFile, OSError):
            return None, "a damaged zip archive"
        if "constants.pkl" in records and any(record.startswith("code/") for record in records):
            return "torchscript", _NAMES["torchscript"]
        if "data.pkl" in records:
            return "torch.save", _NAMES["torch.save"]
        return None, "a zip archive PyTorch did not write"
    if head.startswith(_ZIP_HEADER):
        return None, "a truncated or damaged zip archive"
    if head.startswith(b"\x80") and _LEGACY_MAGIC in head:
        return "torch.save", _NAMES["torch.save"]
    return None, "not a PyTorch file"


def torch_format(path: Path) -> TorchFormat | None:
    """``"torch.save"`` (zip or legacy pickle), ``"torchscript"`` or None, told from the
    bytes of ``path`` without unpickling anything."""
    return _inspect(path)[0]


def _misfit(model: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """The first way ``state`` does not fit ``model``, in words (not PyTorch's list)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    if missing:
        return f"{missing[0]} is missing"
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        return f"{unexpected[0]} is not the network's"
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            return f"{key} is {list(tensor.shape)}, the network's is {list(expected[key].shape)}"
    return "its tensors do not fit"


@dataclass(frozen=True)
class ModelFile:
    """A model file to read, named for its errors: ``what`` it should hold ("teacher
    weights") and the ``fix`` for a bad one ("re-train the teacher")."""

    path: Path
    what: str
    fix: str

    def error(self, problem: str) -> FsbbtError:
        """ "cannot load <what> from <path> (<problem>); <fix>"."""
        return FsbbtError(f"cannot load {self.what} from {self.path} ({problem}); {self.fix}")

    def _require(self, wanted: TorchFormat) -> None:
        found, description = _inspect(self.path)
        if found is None:
            raise self.error(f"it is {description}")
        if found != wanted:
            raise self.error(f"it is {description}, not {_NAMES[wanted]}")

    def payload(self) -> Any:
        """What ``torch.save`` wrote: tensors in plain containers, on the CPU."""
        self._require("torch.save")
        try:
            with warnings.catch_warnings():  # the verdict is ours, below; not PyTorch's advice
                warnings.simplefilter("ignore")
                return torch.load(self.path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise self.error(
                "it holds pickled Python objects besides tensors, which fsbbt refuses to load"
            ) from exc
        except Exception as exc:  # torch.load has no error type of its own for a damaged file
            raise self.error(f"it is truncated or damaged: {type(exc).__name__}") from exc

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The file's state dict: names to tensors, nothing else."""
        payload = self.payload()
        if not isinstance(payload, dict) or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in payload.items()
        ):
            raise self.error("it is not a PyTorch state dict")
        return payload

    def load_into(
        self, model: nn.Module, network: str, state: Mapping[str, torch.Tensor] | None = None
    ) -> nn.Module:
        """``model`` (described as ``network``, e.g. "a lenet5 network") in eval mode with the
        file's state dict, or with ``state`` when it was read from this file earlier (on
        another rank)."""
        state = self.state_dict() if state is None else state
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:  # keys or shapes of another network
            raise self.error(f"it does not fit {network}: {_misfit(model, state)}") from exc
        return model.eval()

    def torchscript(self, extra_files: dict[str, str] | None = None) -> torch.jit.ScriptModule:
        """The TorchScript program on the CPU; ``extra_files`` are filled in as
        ``torch.jit.load`` does."""
        self._require("torchscript")
        try:
            with warnings.catch_warnings():  # deprecated by PyTorch, still the format asked for
                warnings.simplefilter("ignore", DeprecationWarning)
                return torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra_files)
        except Exception as exc:  # torch.jit.load raises untyped errors for a damaged program
            raise self.error(f"it is damaged: {type(exc).__name__}") from exc
