import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("FSBBT_QUIET", "1")
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _quiet() -> None:
    from fsbbt import progress

    progress.set_quiet(True)
