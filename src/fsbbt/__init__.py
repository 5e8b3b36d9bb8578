"""fsbbt: black-box few-shot knowledge distillation.

The pipeline reads in one direction, and so do the subpackages:
``data`` → ``teacher`` (queries) → ``synth`` (MixUp, CVAE) → ``train`` →
``methods`` (recipes over those pieces) → ``experiment`` (runs, results.json) →
``report`` (tables, figures).
"""

__version__ = "0.1.0"
