"""Methods: each one file declaring a :class:`Method`, a short recipe over data, teacher
queries, synthesis and training."""

from fsbbt.methods.base import FewShotSet, MethodContext, MethodOutcome, SeedCache
from fsbbt.methods.declaration import BudgetShare, Method
from fsbbt.methods.registry import METHODS, get_method

__all__ = [
    "METHODS",
    "BudgetShare",
    "FewShotSet",
    "Method",
    "MethodContext",
    "MethodOutcome",
    "SeedCache",
    "get_method",
]
