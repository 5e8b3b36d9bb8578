"""Student-Alone: the student trained on the N few images with their true labels.

The lower bound without a teacher: no queries at all.
"""

from __future__ import annotations

from fsbbt.core.tensors import one_hot
from fsbbt.methods.base import MethodContext, MethodOutcome, train_student
from fsbbt.methods.declaration import Method


def run_student_alone(context: MethodContext, arch: str) -> MethodOutcome:
    images = context.fewshot.images_uint8
    targets = one_hot(context.fewshot.true_labels_for_student_alone(), context.num_classes)
    training = train_student(
        context, arch, images, targets, f"student-alone/{arch}", context.config.student.baseline_augmentation
    )
    return MethodOutcome(training, teacher_queries=0)


STUDENT_ALONE = Method(
    name="student-alone",
    summary="Student-Alone: the few images with their true labels, no teacher (lower bound)",
    run=run_student_alone,
    reads=("student",),
    uses_true_labels=True,
)
