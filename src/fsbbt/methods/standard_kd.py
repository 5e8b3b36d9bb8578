"""Standard-KD: the student trained on the N few images with the teacher's soft labels."""

from __future__ import annotations

from fsbbt.methods.base import MethodContext, MethodOutcome, train_student
from fsbbt.methods.declaration import Method


def run_standard_kd(context: MethodContext, arch: str) -> MethodOutcome:
    images = context.fewshot.images_uint8
    teacher_probs = context.oracle.query(images, "label the few images")
    training = train_student(
        context,
        arch,
        images,
        teacher_probs,
        f"standard-kd/{arch}",
        context.config.student.baseline_augmentation,
    )
    return MethodOutcome(training, teacher_queries=len(images))


STANDARD_KD = Method(
    name="standard-kd",
    summary="Standard-KD: the few images with the teacher's soft labels, nothing synthesised",
    run=run_standard_kd,
    reads=("student", "teacher"),
)
