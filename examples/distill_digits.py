"""FS-BBT on scikit-learn's digits, piece by piece, without the CLI.

Each step is one call of the ``fsbbt`` Python API, in the order of the method
(docs/method.md): a teacher we may only query, a few unlabelled images, synthetic
images from MixUp and a CVAE, the teacher's answers, a student trained on them,
then shipping the student. Run it as a script (about a minute on one CPU core)
or paste the body of ``distill`` into a notebook cell by cell.

    python examples/distill_digits.py [OUT_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import fsbbt


def distill(
    out_dir: Path,
    teacher_epochs: int = 20,
    student_epochs: int = 30,
    cvae_epochs: int = 200,
    budget: int = 4000,
    n_fewshot: int = 100,
    seed: int = 1,
) -> dict[str, float]:
    """Distil a LeNet5-half from a black-box LeNet5 teacher; return the test accuracies."""
    dataset = fsbbt.load_dataset("digits")

    # 1. A teacher trained on all the data; from here on we only query it.
    teacher_settings = fsbbt.TeacherConfig(arch="lenet5", epochs=teacher_epochs)
    teacher_dir = fsbbt.ensure_teacher(teacher_settings, dataset, out_dir)
    oracle = fsbbt.QueryOracle(fsbbt.LocalTeacher(teacher_dir))

    # 2. A few unlabelled images (the draw is class-balanced, as in the paper).
    indices = fsbbt.sample_fewshot_indices(dataset.train_labels, n_fewshot, dataset.num_classes, seed)
    fewshot_images = dataset.train_images[indices]
    fewshot_probs = oracle.query(fewshot_images, "label the few images")

    # 3. Synthetic images: MixUp pairs, and a CVAE for the pairs MixUp dropped.
    mixup = fsbbt.mixup_from_fewshot(
        fewshot_images, budget, alpha=1.0, threshold=0.05, rng=np.random.default_rng([seed, 1])
    )
    cvae = fsbbt.train_cvae(
        fewshot_images,
        fewshot_probs.argmax(axis=1),
        dataset.num_classes,
        fsbbt.CvaeConfig(epochs=cvae_epochs),
        seed=seed,
    )
    cvae_images, _ = fsbbt.sample_cvae(
        cvae, mixup.dropped_count, dataset.num_classes, "hybrid", np.random.default_rng([seed, 2])
    )

    # 4. The teacher labels the synthetic images (each image is paid for once).
    synthetic_images = np.concatenate([mixup.images_uint8, cvae_images])
    synthetic_probs = oracle.query(synthetic_images, "label synthetic images")
    train_images = np.concatenate([fewshot_images, synthetic_images])
    train_probs = np.concatenate([fewshot_probs, synthetic_probs])

    # 5. The student learns the teacher's soft answers.
    student = fsbbt.build_classifier("lenet5-half", dataset.input_shape, dataset.num_classes)
    recipe = fsbbt.TrainRecipe(epochs=student_epochs, batch_size=64, augmentation="combination")
    fsbbt.fit_classifier(
        student, train_images, train_probs, recipe, seed=seed, description="student lenet5-half"
    )
    scores = fsbbt.evaluate_classifier(student, dataset.test_images, dataset.test_labels, dataset.num_classes)
    print(
        f"teacher queries: {oracle.queries_sent}; student test accuracy "
        f"{scores.accuracy:.4f}, macro-F1 {scores.macro_f1:.4f}"
    )

    # 6. Ship it: a self-describing file, an ONNX export checked against PyTorch,
    #    and predictions on image files.
    student_file = out_dir / "students" / "fsbbt__lenet5-half__seed1.pt"
    fsbbt.save_student(
        student,
        fsbbt.StudentInfo(
            arch="lenet5-half",
            input_shape=dataset.input_shape,
            class_names=dataset.class_names,
            dataset=dataset.name,
            method="fsbbt",
            seed=seed,
            test_accuracy=scores.accuracy,
        ),
        student_file,
    )
    report = fsbbt.export_student(student_file, "onnx", out_dir / "student.onnx")
    print(f"ONNX export: max probability difference {report.max_abs_difference:.1e}")
    shipped = fsbbt.load_shipped_model(out_dir / "student.onnx")
    onnx_accuracy = float(
        np.mean(shipped.predict_proba(dataset.test_images).argmax(axis=1) == dataset.test_labels)
    )
    return {
        "student_accuracy": scores.accuracy,
        "onnx_accuracy": onnx_accuracy,
        "teacher_queries": oracle.queries_sent,
    }


if __name__ == "__main__":
    distill(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/example"))
