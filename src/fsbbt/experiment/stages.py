"""Resuming a run: one small file per finished (seed, method, arch) stage, one checkpoint
for the stage in progress.

Re-running the same command with the same ``--out`` reads the finished stages back
instead of training them again, and the unfinished stage continues from its last epoch.
A stage finished under a different configuration is not reused (it is run again), just
as a teacher trained differently is retrained.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fsbbt.config.schema import TEACHER_TRANSPORT_KEYS, RunConfig
from fsbbt.core.identity import identity
from fsbbt.methods.declaration import RUN_SECTIONS, Method, settings_that_count
from fsbbt.methods.registry import owned_sections
from fsbbt.report.results import StageResult, write_json_atomically

STAGES_DIR = "stages"
CHECKPOINTS_DIR = "checkpoints"
# Keys that choose which stages run, where data is found or how answers travel, not what
# a stage computes.
_NOT_IN_FINGERPRINT = {
    "seeds",
    "methods",
    "data_dir",
    "test_data_dir",
    # what these two change, the images, has its own identity (seed_run)
    "skip_unreadable",
    "validation_images",
    "curve_points",
    "query_batch_size",
    "query_budget",
    "precision",
}


def config_fingerprint(config: RunConfig, method: Method, budget_parts: int = 1) -> str:
    """The identity of every setting that changes what ``method``'s stage computes.

    Only the sections the method reads count (``Method.reads``), less the keys it
    replaces by its own (``Method.replaces``), each with every key's
    effective value, defaults included: a release that changes a default computes
    something else, so its stages must not be read back as the old ones (a release that
    adds a key retrains them too, the price of that). The query budget counts for the methods it shrinks,
    together with the number of seeds and of synthetic sets that share it
    (``budget_parts``); the precision counts as resolved on this machine (identity()).
    """
    settings = settings_that_count(method, config)
    sections = {*RUN_SECTIONS, *owned_sections()}
    relevant = {
        key: value
        for key, value in settings.items()
        if key not in _NOT_IN_FINGERPRINT and (key not in sections or key in method.reads)
    }
    if "teacher" in relevant:
        relevant["teacher"] = {
            key: value for key, value in relevant["teacher"].items() if key not in TEACHER_TRANSPORT_KEYS
        }
    relevant["dataset"] = config.dataset
    relevant["n_fewshot"] = config.n_fewshot
    if method.budget is not None and config.query_budget is not None:
        relevant["query_budget"] = [config.query_budget, len(config.seeds), budget_parts]
    return identity(
        "finished stage", requested_precision=config.precision, method=method.name, settings=relevant
    )


class Stage:
    """The files of one (seed, method, arch) stage under a run directory."""

    def __init__(self, out_dir: Path, seed: int, method: str, arch: str) -> None:
        name = f"seed{seed}__{method}__{arch}"
        self.result_file = out_dir / STAGES_DIR / f"{name}.json"
        self.samples_file = out_dir / STAGES_DIR / f"{name}.samples.npz"
        self.checkpoint = out_dir / CHECKPOINTS_DIR / f"{name}.ckpt"

    def load_finished(self, fingerprint: str) -> StageResult | None:
        """The stage's result if an earlier run finished it with the same configuration."""
        if not self.result_file.is_file():
            return None
        try:
            saved = json.loads(self.result_file.read_text())
        except ValueError:
            return None  # written atomically, so only a hand-edited file gets here: redo it
        if saved.get("config_fingerprint") != fingerprint:
            return None
        try:
            return StageResult(**saved["result"])
        except TypeError:  # written by an older release in another shape: redo the stage
            return None

    def load_samples(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The sample images the stage kept for the figure (empty if it kept none)."""
        if not self.samples_file.is_file():
            return {}
        with np.load(self.samples_file) as arrays:
            kinds = sorted({name.rsplit("__", 1)[0] for name in arrays.files})
            return {kind: (arrays[f"{kind}__images"], arrays[f"{kind}__labels"]) for kind in kinds}

    def save_finished(
        self, result: StageResult, fingerprint: str, samples: dict[str, tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """Record the stage as done (samples first, the JSON last) and drop its checkpoint."""
        self.result_file.parent.mkdir(parents=True, exist_ok=True)
        if samples:
            arrays = {}
            for kind, (images, labels) in samples.items():
                arrays[f"{kind}__images"], arrays[f"{kind}__labels"] = images, labels
            np.savez(self.samples_file, **arrays)
        write_json_atomically(self.result_file, {"config_fingerprint": fingerprint, "result": asdict(result)})
        self.checkpoint.unlink(missing_ok=True)
