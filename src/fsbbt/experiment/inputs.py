"""What a run starts from: its dataset and its teacher, in the order each needs the other.

Shared by the runner and the seed workers of ``fsbbt run --jobs``, so a worker process
sees exactly the data and teacher its parent did.
"""

from __future__ import annotations

from pathlib import Path

from fsbbt.config.schema import USER_IMAGES, RunConfig
from fsbbt.data import ImageDataset, check_fewshot_draw, hold_out_validation, load_dataset
from fsbbt.data.folder import load_user_images
from fsbbt.teacher.blackbox import BlackBoxTeacher
from fsbbt.teacher.factory import build_teacher


def data_and_teacher(config: RunConfig, out_dir: Path) -> tuple[ImageDataset, BlackBoxTeacher]:
    """The run's dataset and teacher. A built-in dataset comes first and the teacher must
    fit it (or is trained on it); the user's own images are read at the shape the teacher
    says it takes."""
    if config.dataset == USER_IMAGES:
        teacher = build_teacher(config.teacher)
        assert config.data_dir is not None  # the schema requires it for USER_IMAGES
        dataset = load_user_images(
            config.data_dir,
            tuple(teacher.input_shape),
            tuple(teacher.class_names),
            config.test_data_dir,
            config.skip_unreadable,
        )
        return dataset, teacher
    dataset = load_dataset(config.dataset, config.data_dir)
    if config.validation_images:
        check_fewshot_draw(dataset.train_labels, config.validation_images, dataset.num_classes)
    check_fewshot_draw(dataset.train_labels, config.n_fewshot, dataset.num_classes)
    # the teacher is the black box the user has: the same with or without a validation split
    teacher = build_teacher(config.teacher, dataset, out_dir)
    if config.validation_images:
        dataset = hold_out_validation(dataset, config.validation_images)
    return dataset, teacher
