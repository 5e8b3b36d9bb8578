"""Datasets: loaders, where their files are looked for, and few-shot sampling."""

from fsbbt.data.catalog import LOADERS, load_dataset
from fsbbt.data.dataset import ImageDataset
from fsbbt.data.fewshot import check_fewshot_draw, hold_out_validation, sample_fewshot_indices

__all__ = [
    "LOADERS",
    "ImageDataset",
    "check_fewshot_draw",
    "hold_out_validation",
    "load_dataset",
    "sample_fewshot_indices",
]
