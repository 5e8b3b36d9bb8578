"""Train a teacher on a full training split and save it, or reuse the one already saved.

This is set-up, not distillation: it is the one place that touches a teacher's
module, and it hands back only a directory that :class:`LocalTeacher` can serve.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fsbbt.config.schema import TeacherConfig
from fsbbt.core import distributed, progress
from fsbbt.core.errors import FsbbtError
from fsbbt.core.identity import identity
from fsbbt.core.tensors import one_hot
from fsbbt.data import ImageDataset
from fsbbt.models import build_classifier
from fsbbt.teacher.local import METADATA_FILE, TeacherMetadata, read_metadata, save_teacher
from fsbbt.train import TrainRecipe, evaluate_classifier, fit_classifier
from fsbbt.train.augment import geometry_for

CHECKPOINT_FILE = "teacher.ckpt"
_DATA_SAMPLE_STRIDE = 97  # images hashed for the data's identity: cheap, and enough to tell
# two copies of a dataset apart (pickles vs a lossy JPEG tree)


def training_identity(settings: TeacherConfig, dataset: ImageDataset) -> str:
    """A hash of everything that decides the trained teacher: the recipe, the precision it
    trains in on this machine, and the training data itself (labels, every 97th image),
    so a teacher is reused only for the same training, whatever the dataset is called."""
    recipe = settings.model_dump(
        mode="json",
        include={"arch", "epochs", "batch_size", "lr", "seed", "augmentation", "geometry", "lr_schedule"},
    )
    return identity(
        "teacher training",
        recipe=recipe,
        labels=dataset.train_labels,
        images=dataset.train_images[::_DATA_SAMPLE_STRIDE],
    )


def teacher_recipe(settings: TeacherConfig, channels: int) -> TrainRecipe:
    """The teacher section's training recipe for images of ``channels`` channels."""
    return TrainRecipe(
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        augmentation=settings.augmentation,
        geometry=geometry_for(settings.geometry, channels),
        lr_schedule=settings.lr_schedule,
    )


def train_teacher(settings: TeacherConfig, dataset: ImageDataset, directory: Path) -> TeacherMetadata:
    """Train ``settings.arch`` on all of ``dataset``'s training split, evaluate, save."""
    torch.manual_seed(settings.seed)
    model = build_classifier(settings.arch, dataset.input_shape, dataset.num_classes)
    recipe = teacher_recipe(settings, dataset.input_shape[0])
    checkpoint = directory / CHECKPOINT_FILE  # a killed teacher training resumes from here
    history = fit_classifier(
        model,
        dataset.train_images,
        one_hot(dataset.train_labels, dataset.num_classes),
        recipe,
        seed=settings.seed,
        description=f"teacher {settings.arch}",
        checkpoint=checkpoint,
    )
    scores = evaluate_classifier(model, dataset.test_images, dataset.test_labels, dataset.num_classes)
    metadata = TeacherMetadata(
        arch=settings.arch,
        dataset=dataset.name,
        input_shape=dataset.input_shape,
        class_names=dataset.class_names,
        test_accuracy=scores.accuracy,
        epochs=settings.epochs,
        seed=settings.seed,
        train_seconds=round(history.seconds, 1),
        training_identity=training_identity(settings, dataset),
    )
    if distributed.is_main_process():
        save_teacher(model, metadata, directory)
        checkpoint.unlink(missing_ok=True)
    distributed.barrier()  # the other ranks load the teacher rank 0 has just written
    progress.status(f"teacher {settings.arch}: test accuracy {scores.accuracy:.4f}, saved to {directory}")
    return metadata


def ensure_teacher(settings: TeacherConfig, dataset: ImageDataset, run_dir: Path) -> Path:
    """The directory of a usable teacher: ``settings.path``, the run's own, or a new one.

    A saved teacher is reused only if it was trained the same way (recipe, precision and
    data: :func:`training_identity`); otherwise it is trained again rather than silently
    mixing experiments. Teachers saved before the identity was recorded are compared on
    arch, dataset name, epochs and seed.
    """
    if settings.path is not None:
        metadata = read_metadata(settings.path)
        if metadata.input_shape != dataset.input_shape or len(metadata.class_names) != dataset.num_classes:
            raise FsbbtError(
                f"teacher at {settings.path} takes {metadata.input_shape} with "
                f"{len(metadata.class_names)} classes, but {dataset.name} has "
                f"{dataset.input_shape} and {dataset.num_classes}; use a matching teacher"
            )
        return settings.path
    directory = run_dir / "teacher"
    if (directory / METADATA_FILE).is_file():
        saved = read_metadata(directory)
        if saved.training_identity is not None:
            same_training = saved.training_identity == training_identity(settings, dataset)
        else:
            same_training = (saved.arch, saved.dataset, saved.epochs, saved.seed) == (
                settings.arch,
                dataset.name,
                settings.epochs,
                settings.seed,
            )
        if same_training:
            progress.status(f"reusing teacher in {directory} (test accuracy {saved.test_accuracy:.4f})")
            return directory
        progress.status(f"teacher in {directory} was trained differently; training a new one")
    train_teacher(settings, dataset, directory)
    return directory
