"""``python -m fsbbt`` is the ``fsbbt`` command (used by tests and torchrun)."""

from fsbbt.cli import main

main()
