"""Data: modality decoding, list-file datasets, synthetic scenes, augmentation, tf.data pipelines."""

from cenkeras.data.modalities import DataError, normalize, read_mask, read_raw
from cenkeras.data.pipeline import evaluation_dataset, raw_dataset, training_dataset

__all__ = [
    "DataError",
    "evaluation_dataset",
    "normalize",
    "raw_dataset",
    "read_mask",
    "read_raw",
    "training_dataset",
]
