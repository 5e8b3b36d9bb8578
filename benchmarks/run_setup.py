"""What the benchmarks that revisit a run share: its config, precision and dataset, a
seed's method context and validation split, the run's finished FS-BBT stages, and its
teacher with the other choice of batch-norm statistics."""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
from pathlib import Path

import numpy as np
from torch import nn

from fsbbt.core import precision
from fsbbt.data import ImageDataset, load_dataset, sample_fewshot_indices
from fsbbt.experiment.config import ExperimentConfig, load_config
from fsbbt.experiment.results import StageResult
from fsbbt.experiment.seed_run import plan_methods, test_accuracy_on
from fsbbt.experiment.stages import Stage
from fsbbt.methods import FewShotSet, MethodContext
from fsbbt.synth.cvae_store import CVAE_DIR
from fsbbt.teacher import LocalTeacher, QueryOracle
from fsbbt.teacher.ledger import LEDGER_FILE
from fsbbt.teacher.local import TeacherMetadata, load_teacher_network
from fsbbt.train.loop import measure_statistics_on_images

VALIDATION_IMAGES = 5000
"""Training images outside a seed's few-shot draw that development choices are scored on."""
PLAIN_STATISTICS_BATCH = 512
"""Images per batch when measuring a teacher's statistics on its plain training split (the
CIFAR-10 teacher's batch size)."""


def run_parser(description: str, run_help: str,
               default_arch: str | None = None) -> argparse.ArgumentParser:
    """The arguments every such benchmark takes: the config, ``--run``, ``--data-dir`` and,
    for those that retrain a student, ``--arch``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config")
    parser.add_argument("--run", type=Path, required=True, help=run_help)
    parser.add_argument("--data-dir", type=Path, default=None)
    if default_arch is not None:
        parser.add_argument("--arch", default=default_arch, help="FS-BBT student architecture")
    return parser


def config_and_dataset(config_path: str, data_dir: Path | None
                       ) -> tuple[ExperimentConfig, ImageDataset]:
    """The config (with ``data_dir`` when given), its precision set for this process, and
    its dataset, as ``fsbbt run`` would have them."""
    overrides = [] if data_dir is None else [f"data_dir={data_dir}"]
    config = load_config(config_path, overrides)
    precision.configure(config.precision)
    return config, load_dataset(config.dataset, config.data_dir)


def fewshot_indices(config: ExperimentConfig, dataset: ImageDataset, seed: int) -> np.ndarray:
    """The training-split rows of the seed's few images, the run's draw."""
    return sample_fewshot_indices(dataset.train_labels, config.n_fewshot, dataset.num_classes,
                                  seed)


def validation_indices(config: ExperimentConfig, dataset: ImageDataset,
                       seed: int) -> np.ndarray:
    """5,000 training-split rows outside the seed's few images (all of them on a smaller
    dataset): where a development choice is made, so that the test split never is."""
    outside = np.setdiff1d(np.arange(len(dataset.train_labels)),
                           fewshot_indices(config, dataset, seed))
    return np.random.default_rng(123).choice(outside, min(VALIDATION_IMAGES, len(outside)),
                                             replace=False)


def plain_statistics_teacher(run: Path, dataset: ImageDataset
                             ) -> tuple[nn.Module, TeacherMetadata]:
    """The run's teacher with its batch-norm statistics measured again on the plain training
    split, the alternative to the saved ones (measured on training-style batches)."""
    saved, metadata = load_teacher_network(run / "teacher")
    plain = copy.deepcopy(saved)
    measure_statistics_on_images(plain, dataset.train_images, PLAIN_STATISTICS_BATCH)
    return plain, metadata


def seed_context(config: ExperimentConfig, dataset: ImageDataset, oracle: QueryOracle,
                 seed: int, checkpoint: Path | None = None,
                 cvae_store: Path | None = None) -> MethodContext:
    """The context ``fsbbt run`` gives a method for ``seed``: the same few images and oracle."""
    indices = fewshot_indices(config, dataset, seed)
    fewshot = FewShotSet(dataset.train_images[indices], dataset.train_labels[indices])
    return MethodContext(config, seed, fewshot, oracle, test_accuracy_on(dataset),
                         stage_checkpoint=checkpoint, cvae_store=cvae_store)


def copy_of_run(run: Path, work_dir: Path | None, prefix: str) -> Path:
    """A work directory holding copies of the run's ledger and trained CVAEs (a temporary
    one unless ``work_dir``): a benchmark that rebuilds the run's synthetic set reads the
    run's answers and CVAE there, pays for neither again, and never writes to the run."""
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix=prefix))
    work_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / LEDGER_FILE, work_dir / LEDGER_FILE)
    if (run / CVAE_DIR).is_dir():
        shutil.copytree(run / CVAE_DIR, work_dir / CVAE_DIR, dirs_exist_ok=True)
    return work_dir


def run_oracle(run: Path, config: ExperimentConfig, work_dir: Path) -> QueryOracle:
    """The run's teacher behind the ledger copied into ``work_dir`` by :func:`copy_of_run`."""
    return QueryOracle.keeping_answers_in(work_dir, LocalTeacher(run / "teacher"),
                                          config.query_batch_size)


def finished_fsbbt_stage(run: Path, config: ExperimentConfig, arch: str,
                         seed: int) -> StageResult | None:
    """The run's result for ``fsbbt/<arch>`` and ``seed``, if finished with this config."""
    plan = next(plan for plan in plan_methods(config) if plan.spec.key == f"fsbbt/{arch}")
    return Stage(run, seed, plan.spec.file_stem, arch).load_finished(plan.fingerprint)
