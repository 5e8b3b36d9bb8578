"""A Python function as a teacher: ``module:function`` or ``path/to/file.py:function``.

The function takes a uint8 N×C×H×W numpy batch and returns what the config's ``output``
declares (probabilities by default). It runs in this process, so it is trusted code.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fsbbt.core.errors import FsbbtError


def load_function(spec: str) -> Callable[[np.ndarray], object]:
    """The callable named by ``module:function`` or ``file.py:function``."""
    module_name, _, function_name = spec.rpartition(":")
    if not module_name or not function_name:
        raise FsbbtError(f"python teacher {spec!r} must be written module:function")
    try:
        if module_name.endswith(".py"):
            location = Path(module_name)
            loader_spec = importlib.util.spec_from_file_location(location.stem, location)
            if loader_spec is None or loader_spec.loader is None or not location.is_file():
                raise FileNotFoundError(module_name)
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, FileNotFoundError) as exc:
        raise FsbbtError(
            f"cannot import {module_name} for the python teacher ({exc}); "
            "check the module is importable (PYTHONPATH) or the file exists"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise FsbbtError(f"{module_name} has no function {function_name!r}")
    return function


class PythonFunctionTeacher:
    def __init__(self, spec: str, input_shape: tuple[int, int, int], class_names: tuple[str, ...]) -> None:
        self._function = load_function(spec)
        self.input_shape = input_shape
        self.class_names = class_names
        self.fingerprint = f"python:{spec}"

    def predict_proba(self, images_uint8: np.ndarray) -> object:
        return self._function(images_uint8)
