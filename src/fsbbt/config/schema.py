"""The run-wide keys and the teacher and student sections of a config.

Every key has the paper's value as its default where the paper gives one; a config file
only says what differs (dataset, N, M, epochs). A method's own section is a model like
these, declared in the method's file (:mod:`fsbbt.methods`).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fsbbt.config.method_entry import parse_method_entry
from fsbbt.config.names import (
    AugmentationName,
    GeometryName,
    LrScheduleName,
    TeacherKind,
    TeacherOutput,
)
from fsbbt.core.precision import PrecisionName

USER_IMAGES = "images"
"""The dataset name of a folder of the user's own unlabelled images (``fsbbt distill``)."""


class Strict(BaseModel):
    """A config section: unknown keys refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Keys each external kind understands. The training keys (arch, epochs, batch_size, lr,
# seed) are accepted with every kind, because presets set them and a user switching a
# preset to another teacher with --set should not have to unset them; they only matter
# for kind "train".
_TRAIN_KEYS = {
    "kind",
    "arch",
    "epochs",
    "batch_size",
    "lr",
    "seed",
    "augmentation",
    "geometry",
    "lr_schedule",
}
_SHAPE_KEYS = {"output", "input_shape", "class_names"}
# How answers travel from a remote teacher, not what they are: they never change a result.
TEACHER_TRANSPORT_KEYS = {
    "headers",
    "token_env",
    "request_batch_size",
    "concurrency",
    "timeout_s",
    "retries",
    "max_backoff_s",
}
TEACHER_KIND_KEYS: dict[str, set[str]] = {
    "train": set(),
    "local": {"path"},
    "torchscript": {"path"} | _SHAPE_KEYS,
    "onnx": {"path"} | _SHAPE_KEYS,
    "python": {"function"} | _SHAPE_KEYS,
    "http": {"url"} | TEACHER_TRANSPORT_KEYS | _SHAPE_KEYS,
}
_REQUIRED_KEY = {"local": "path", "torchscript": "path", "onnx": "path", "python": "function", "http": "url"}


class TeacherConfig(Strict):
    """The teacher: trained by fsbbt (arch, epochs, ...), a saved one (path), or any other
    kind (docs/teachers.md). Without ``kind`` it is ``local`` if ``path`` is set, else
    ``train``."""

    kind: TeacherKind | None = None
    arch: str = "lenet5"
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    seed: int = 0
    augmentation: AugmentationName = Field(
        "none", description="the teacher's own training augmentation (its full training split)"
    )
    geometry: GeometryName = "auto"
    lr_schedule: LrScheduleName = "constant"
    path: Path | None = None
    function: str | None = Field(None, description="module:function or file.py:function")
    url: str | None = None
    headers: dict[str, str] = {}
    token_env: str | None = Field(None, description="env var holding a bearer token (never logged)")
    request_batch_size: int = Field(64, ge=1)
    concurrency: int = Field(4, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    retries: int = Field(5, ge=0)
    max_backoff_s: float = Field(30.0, ge=0)
    output: TeacherOutput = "probabilities"
    input_shape: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] | None = None

    @property
    def resolved_kind(self) -> str:
        if self.kind is not None:
            return self.kind
        return "local" if self.path is not None else "train"

    @model_validator(mode="after")
    def _keys_fit_the_kind(self) -> TeacherConfig:
        kind = self.resolved_kind
        stray = self.model_fields_set - _TRAIN_KEYS - TEACHER_KIND_KEYS[kind]
        if stray:
            raise ValueError(f"key(s) {', '.join(sorted(stray))} do not apply to teacher kind {kind!r}")
        required = _REQUIRED_KEY.get(kind)
        if required is not None and getattr(self, required) is None:
            raise ValueError(f"teacher kind {kind!r} needs teacher.{required}")
        return self


class StudentConfig(Strict):
    """The student recipe. Baselines (trained on the N images only) have their own
    augmentation: with "none" they land on the paper's numbers, with "combination" 2-4
    points below (measured on Fashion-MNIST, docs/reproduction.md)."""

    epochs: int = Field(50, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    augmentation: AugmentationName = "combination"
    baseline_augmentation: AugmentationName = "none"
    geometry: GeometryName = Field("auto", description="auto: cifar for colour images, else grey")
    lr_schedule: LrScheduleName = "constant"
    average_epochs: float = Field(
        0.0,
        ge=0,
        description="> 0: the student is a moving average of its weights over about this many "
        "last epochs; 0: the last step's weights (the paper's)",
    )
    # What a student's saved batch-norm statistics are measured on (train/batch_norm.py):
    # "real", its N few images as they are, the kind of image it will classify;
    # "training", one more epoch of its training batches (MixUp images, batch mixing,
    # shifts), the reference's reading. Networks without batch norm ignore it.
    batch_norm_statistics: Literal["real", "training"] = "real"


class RunConfig(Strict):
    """The run-wide keys, the teacher and the student. The full schema
    (:class:`fsbbt.experiment.config.ExperimentConfig`) adds each method's own section."""

    # sections a ``METHOD[key=value]/ARCH`` variant may change (the composed schema adds
    # every method's own sections); the teacher and the data are the run's
    variant_sections: ClassVar[tuple[str, ...]] = ("student",)

    dataset: str
    data_dir: Path | None = None
    test_data_dir: Path | None = Field(
        None, description="dataset images only: a labelled test folder (CLASS/*.png) for reporting accuracy"
    )
    skip_unreadable: bool = Field(
        False, description="dataset images only: leave out (and list) files that do not decode"
    )
    validation_images: int = Field(
        0,
        ge=0,
        description="hold out this many training images (class-balanced, never drawn as few "
        "images) and measure every accuracy on them instead of the test split: for choosing "
        "settings without the test set",
    )
    n_fewshot: int = Field(2000, ge=1)
    seeds: list[int] = [1]
    methods: list[str] = [
        "student-alone/lenet5-half",
        "standard-kd/lenet5-half",
        "fsbbt/lenet5-half",
        "fsbbt/lenet5",
    ]
    query_batch_size: int = Field(256, ge=1)
    query_budget: int | None = Field(None, ge=0, description="most answers the ledger may hold")
    curve_points: int = Field(10, ge=0, description="test-accuracy points per training curve")
    precision: PrecisionName = Field("auto", description="see fsbbt.core.precision")
    teacher: TeacherConfig = TeacherConfig()
    student: StudentConfig = StudentConfig()

    @field_validator("methods")
    @classmethod
    def _method_names_have_an_arch(cls, methods: list[str]) -> list[str]:
        keys = [parse_method_entry(entry, cls.variant_sections).key for entry in methods]
        if len(set(keys)) != len(keys):
            raise ValueError("methods lists an entry twice; give each METHOD[...]/ARCH once")
        return methods

    @model_validator(mode="after")
    def _user_images_have_a_folder(self) -> RunConfig:
        if self.dataset == USER_IMAGES and self.data_dir is None:
            raise ValueError(f"dataset {USER_IMAGES!r} needs data_dir, the folder of images")
        if self.validation_images and self.dataset == USER_IMAGES:
            raise ValueError(
                f"validation_images needs labelled training images; dataset {USER_IMAGES!r} has none"
            )
        if self.skip_unreadable and self.dataset != USER_IMAGES:
            raise ValueError(f"skip_unreadable applies to dataset {USER_IMAGES!r} only")
        if self.test_data_dir is not None and self.dataset != USER_IMAGES:
            raise ValueError(
                f"test_data_dir applies to dataset {USER_IMAGES!r} only; "
                f"{self.dataset} brings its own test split"
            )
        return self
