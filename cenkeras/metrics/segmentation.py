"""Segmentation metrics from a streaming confusion matrix."""

import keras
import numpy as np
import tensorflow as tf


def scores_from_confusion(confusion):
    """Pixel accuracy, mean accuracy, mean IoU and per-class IoU from a (C, C) matrix.

    Rows are ground truth, columns predictions. Classes absent from both the
    ground truth and the predictions do not count in the means (their IoU is
    NaN), as in the official evaluation.
    """
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diag(confusion)
    per_true = confusion.sum(axis=1)
    per_pred = confusion.sum(axis=0)
    total = confusion.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pixel_accuracy = true_positive.sum() / total if total else float("nan")
        class_accuracy = np.where(per_true > 0, true_positive / per_true, np.nan)
        union = per_true + per_pred - true_positive
        iou = np.where(union > 0, true_positive / union, np.nan)
    return {
        "pixel_accuracy": float(pixel_accuracy),
        "mean_accuracy": float(np.nanmean(class_accuracy)) if np.any(per_true > 0) else float("nan"),
        "mean_iou": float(np.nanmean(iou)) if np.any(union > 0) else float("nan"),
        "class_iou": [float(v) for v in iou],
    }


@keras.saving.register_keras_serializable(package="cenkeras")
class ConfusionMatrix(keras.metrics.Metric):
    """Streaming (C, C) confusion matrix of dense predictions; `result()` is the mean IoU.

    `update_state(labels, predicted_labels)` takes integer maps of any equal
    shape; pixels whose label is `ignore_label` (or any label outside
    [0, num_classes)) are skipped. The matrix is a sum-aggregated variable, so
    under tf.distribute every replica's counts add up. `scores()` gives pixel
    accuracy, mean accuracy, mean IoU and per-class IoU.

    Args:
        num_classes: C.
        ignore_label: label value excluded from the counts (255).

    Examples:
        >>> metric = ConfusionMatrix(3)
        >>> metric.update_state([[0, 1, 255]], [[0, 2, 1]])
        >>> metric.scores()["pixel_accuracy"]
        0.5
    """

    def __init__(self, num_classes, ignore_label=255, name="miou", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.matrix = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="float64",  # exact counts well past 2**24 pixels
            aggregation="sum",
            name="confusion",
        )

    def update_state(self, labels, predictions, sample_weight=None):
        labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
        predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
        valid = (labels >= 0) & (labels < self.num_classes) & (labels != self.ignore_label)
        cells = self.num_classes**2
        # Skipped pixels go to an extra bucket: fixed shapes, so this also compiles with XLA.
        index = tf.where(valid, labels * self.num_classes + predictions, cells)
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(index, dtype=tf.float64), tf.cast(index, tf.int32), cells + 1
        )
        self.matrix.assign_add(tf.reshape(counts[:cells], (self.num_classes, self.num_classes)))

    def result(self):
        matrix = tf.convert_to_tensor(self.matrix)
        true_positive = tf.linalg.diag_part(matrix)
        union = tf.reduce_sum(matrix, 0) + tf.reduce_sum(matrix, 1) - true_positive
        present = union > 0
        iou = tf.boolean_mask(true_positive, present) / tf.boolean_mask(union, present)
        return tf.cast(tf.math.divide_no_nan(tf.reduce_sum(iou), tf.cast(tf.size(iou), tf.float64)), tf.float32)

    def scores(self):
        return scores_from_confusion(keras.ops.convert_to_numpy(self.matrix))

    def reset_state(self):
        self.matrix.assign(tf.zeros_like(self.matrix))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "ignore_label": self.ignore_label}
