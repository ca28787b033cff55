"""Metrics: streaming confusion-matrix segmentation scores."""

from cenkeras.metrics.segmentation import ConfusionMatrix, scores_from_confusion

__all__ = ["ConfusionMatrix", "scores_from_confusion"]
