"""Methods: each a short recipe over data, teacher queries, synthesis and training."""

from fsbbt.methods.base import FewShotSet, MethodContext, MethodOutcome
from fsbbt.methods.registry import METHODS, get_method

__all__ = ["METHODS", "FewShotSet", "MethodContext", "MethodOutcome", "get_method"]
