"""PNG figures of a run: what the student was taught on, and how training went.

Figures are drawn from results.json and the sample arrays only, never from a model,
so a report can be redrawn without retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROW_TITLES = {"real": "real (few-shot)", "mixup": "MixUp", "cvae": "CVAE"}


def plot_sample_grid(samples: dict[str, tuple[np.ndarray, np.ndarray]],
                     class_names: tuple[str, ...], path: Path) -> None:
    """One row per kind of image, the teacher's top-1 label under each image."""
    kinds = [k for k in ("real", "mixup", "cvae") if k in samples and len(samples[k][0])]
    columns = max(len(samples[k][0]) for k in kinds)
    figure, axes = plt.subplots(len(kinds), columns, figsize=(1.3 * columns, 1.6 * len(kinds)),
                                squeeze=False)
    for row, kind in enumerate(kinds):
        images, labels = samples[kind]
        for column in range(columns):
            axis = axes[row][column]
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
            if column >= len(images):
                continue
            image = images[column].transpose(1, 2, 0)
            axis.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image,
                        cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=255)
            axis.set_xlabel(class_names[int(labels[column])], fontsize=7)
        axes[row][0].set_ylabel(ROW_TITLES[kind], fontsize=9)
    figure.suptitle("Images the student learns from, with the teacher's top-1 label", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_training_curves(results: dict[str, Any], path: Path) -> None:
    """Training loss and test accuracy per epoch for every method (first seed)."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for key, summary in results["methods"].items():
        curve = summary["curves"][0]
        loss_axis.plot(range(1, len(curve["epoch_loss"]) + 1), curve["epoch_loss"], label=key)
        if curve["eval_epochs"]:
            accuracy_axis.plot(curve["eval_epochs"], curve["eval_accuracy"], marker="o",
                               markersize=3, label=key)
    if results["teacher"]["test_accuracy"] is not None:
        accuracy_axis.axhline(results["teacher"]["test_accuracy"], color="black", linestyle="--",
                              linewidth=1, label=f"teacher {results['teacher']['arch']}")
    loss_axis.set(title="training loss (soft-target cross-entropy)", xlabel="epoch",
                  ylabel="loss", yscale="log")
    accuracy_axis.set(title="test accuracy (not used for model selection)", xlabel="epoch",
                      ylabel="accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # no test curves without a test set
            axis.legend(fontsize=8)
    figure.suptitle(f"{results['dataset']}, N = {results['n_fewshot']}, seed "
                    f"{results['seeds'][0]}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
