"""What the benchmarks that revisit a run share: its config, precision and dataset."""

from __future__ import annotations

from pathlib import Path

from fsbbt.data import ImageDataset, load_dataset
from fsbbt.experiment.config import ExperimentConfig, load_config
from fsbbt.train import precision


def config_and_dataset(config_path: str, data_dir: Path | None
                       ) -> tuple[ExperimentConfig, ImageDataset]:
    """The config (with ``data_dir`` when given), its precision set for this process, and
    its dataset, as ``fsbbt run`` would have them."""
    overrides = [] if data_dir is None else [f"data_dir={data_dir}"]
    config = load_config(config_path, overrides)
    precision.configure(config.precision)
    return config, load_dataset(config.dataset, config.data_dir)
