"""Datasets of the paper: file readers, ``load`` and the experimental settings.

``load(name, split)`` gives float32 images in [0, 1] and int64 labels; ``load_setting(name,
seed)`` gives the multi-task train/val/test arrays of one experiment. See docs/data.md.
"""

from optprior.data.datasets import DATASET_NAMES, FACE_SPLIT_SEED, FACE_TEST_FRACTION, load
from optprior.data.download import data_root
from optprior.data.errors import CorruptDatasetError, DatasetNotFoundError
from optprior.data.settings import (
    SETTINGS,
    MultiTaskData,
    TaskSplit,
    load_setting,
    setting_options,
)

__all__ = [
    "DATASET_NAMES",
    "FACE_SPLIT_SEED",
    "FACE_TEST_FRACTION",
    "SETTINGS",
    "CorruptDatasetError",
    "DatasetNotFoundError",
    "MultiTaskData",
    "TaskSplit",
    "data_root",
    "load",
    "load_setting",
    "setting_options",
]
