"""PNG figures of a run: what the student was taught on, how training went, and what
each teacher query bought.

Figures are drawn from results.json and the sample arrays only, never from a model,
so a report can be redrawn without retraining.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fsbbt.config.method_entry import parse_method_entry  # noqa: E402

ROW_TITLES = {"real": "real (few-shot)", "mixup": "MixUp", "cvae": "CVAE"}


def plot_sample_grid(
    samples: dict[str, tuple[np.ndarray, np.ndarray]], class_names: tuple[str, ...], path: Path
) -> None:
    """One row per kind of image, the teacher's top-1 label under each image."""
    kinds = [k for k in samples if len(samples[k][0])]
    columns = max(len(samples[k][0]) for k in kinds)
    figure, axes = plt.subplots(len(kinds), columns, figsize=(1.3 * columns, 1.6 * len(kinds)), squeeze=False)
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
            axis.imshow(
                image.squeeze(-1) if image.shape[-1] == 1 else image,
                cmap="gray" if image.shape[-1] == 1 else None,
                vmin=0,
                vmax=255,
            )
            axis.set_xlabel(class_names[int(labels[column])], fontsize=7)
        axes[row][0].set_ylabel(ROW_TITLES.get(kind, kind), fontsize=9)
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
            accuracy_axis.plot(
                curve["eval_epochs"], curve["eval_accuracy"], marker="o", markersize=3, label=key
            )
    if results["teacher"]["test_accuracy"] is not None:
        accuracy_axis.axhline(
            results["teacher"]["test_accuracy"],
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"teacher {results['teacher']['arch']}",
        )
    loss_axis.set(
        title="training loss (soft-target cross-entropy)", xlabel="epoch", ylabel="loss", yscale="log"
    )
    accuracy_axis.set(title="test accuracy (not used for model selection)", xlabel="epoch", ylabel="accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # no test curves without a test set
            axis.legend(fontsize=8)
    figure.suptitle(f"{results['dataset']}, N = {results['n_fewshot']}, seed {results['seeds'][0]}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


QUERY_EFFICIENCY_FILE = "query_efficiency.png"


def _budget_keys() -> set[str]:
    """The keys that set a method's query count (its declaration's ``budget.size_key``): a
    variant that only moves one is a point on its method's curve; other variants
    (sampling, τ, ...) are ablations and stay in the table."""
    # imported here: the registry loads torch and every method, which a report of other
    # figures (``fsbbt report`` reads results.json only) does not need
    from fsbbt.methods.registry import METHODS

    return {m.budget.size_key for m in METHODS.values() if m.budget is not None}


@dataclass(frozen=True)
class QuerySeries:
    """One line of the query-efficiency figure: accuracy (mean, std over seeds) per query count."""

    label: str
    queries: list[float]
    accuracy_mean: list[float]
    accuracy_std: list[float]


def _round_points(curves: list[list[list[float]]]) -> QuerySeries | None:
    """Mean ± std over seeds of per-round (queries, accuracy) points, rounds aligned."""
    rounds = min((len(curve) for curve in curves), default=0)
    if rounds == 0:
        return None
    points = np.asarray([curve[:rounds] for curve in curves], dtype=np.float64)
    return QuerySeries(
        "",
        list(points[:, :, 0].mean(axis=0)),
        list(points[:, :, 1].mean(axis=0)),
        list(points[:, :, 1].std(axis=0)),
    )


def query_efficiency_series(results: dict[str, Any]) -> list[QuerySeries]:
    """The lines of the figure, from results.json alone.

    A method that queries in rounds (BBKD) gives its per-round points; every other method
    gives one point (its queries, its accuracy), and points of one method/student that
    differ only in their budget (``fsbbt[synthesis.budget=...]``) join into a line. So do
    the points of one method key that merged runs measured at several budgets (entries
    with a ``method_key``, :func:`fsbbt.report.merge.query_sweeps`), rounds or not: each
    run's final point, whatever the method's other settings.
    """
    budget_keys = _budget_keys()
    families: dict[str, list[tuple[float, float, float]]] = {}
    series: list[QuerySeries] = []
    for key, summary in results["methods"].items():
        if summary.get("accuracy_mean") is None:  # no labelled test set: nothing to plot
            continue
        if "method_key" in summary:
            family = summary["method_key"]
        else:
            spec = parse_method_entry(key)
            if not all(o.split("=", 1)[0] in budget_keys for o in spec.overrides):
                continue
            rounds = _round_points(summary.get("query_curves") or [])
            if rounds is not None:
                series.append(QuerySeries(key, rounds.queries, rounds.accuracy_mean, rounds.accuracy_std))
                continue
            family = f"{spec.method}/{spec.arch}"
        families.setdefault(family, []).append(
            (float(summary["teacher_queries"]), summary["accuracy_mean"], summary["accuracy_std"])
        )
    for family, points in families.items():
        points.sort()
        series.append(
            QuerySeries(family, [p[0] for p in points], [p[1] for p in points], [p[2] for p in points])
        )
    return series


def plot_query_efficiency(results: dict[str, Any], path: Path) -> None:
    """Student accuracy against teacher queries, every method on the same axes.

    A method that asks nothing (Student-Alone) and the teacher are horizontal lines. The
    accuracies are on the split results.json says (``evaluated_on``: the test split, or
    held-out training images); the teacher's is always on the test split.
    """
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for line in query_efficiency_series(results):
        mean = 100 * np.asarray(line.accuracy_mean)
        if line.queries == [0.0]:
            axis.axhline(
                mean[0], linestyle=":", color="grey", linewidth=1.2, label=f"{line.label} (no queries)"
            )
            continue
        axis.errorbar(
            line.queries,
            mean,
            yerr=100 * np.asarray(line.accuracy_std),
            marker="o",
            markersize=4,
            capsize=3,
            label=line.label,
        )
    if results["teacher"]["test_accuracy"] is not None:
        axis.axhline(
            100 * results["teacher"]["test_accuracy"],
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"teacher {results['teacher']['arch']}"
            + ("" if results.get("evaluated_on", "test") == "test" else " (test split)"),
        )
    axis.set(
        xlabel="teacher queries (images labelled)",
        ylabel=f"student {results.get('evaluated_on', 'test')} accuracy (%)",
        title=f"{results['dataset']}, N = {results['n_fewshot']}: accuracy per query "
        f"(mean ± std over {len(results['seeds'])} seed(s))",
    )
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
