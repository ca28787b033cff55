"""Confusion-matrix metrics against a matrix computed by hand."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras.metrics import ConfusionMatrix, scores_from_confusion

LABELS = np.array([[0, 0, 1, 1], [2, 2, 255, 1], [0, 2, 1, 7]])
PREDICTIONS = np.array([[0, 1, 1, 1], [2, 0, 1, 2], [0, 2, 0, 1]])
# Rows: ground truth, columns: predictions; 255 and 7 (>= num_classes) are skipped.
HAND_MATRIX = np.array(
    [
        [2, 1, 0],  # class 0: pixels (0,0)->0 (0,1)->1 (2,0)->0
        [1, 2, 1],  # class 1: (0,2)->1 (0,3)->1 (1,3)->2 (2,2)->0
        [1, 0, 2],  # class 2: (1,0)->2 (1,1)->0 (2,1)->2
    ]
)


def test_streaming_matrix_equals_hand_count_across_batches():
    metric = ConfusionMatrix(3)
    metric.update_state(LABELS[:2], PREDICTIONS[:2])
    metric.update_state(LABELS[2:], PREDICTIONS[2:])
    np.testing.assert_array_equal(metric.matrix.numpy(), HAND_MATRIX)


def test_scores_from_the_hand_matrix():
    scores = scores_from_confusion(HAND_MATRIX)
    assert scores["pixel_accuracy"] == pytest.approx(6 / 10)
    assert scores["mean_accuracy"] == pytest.approx((2 / 3 + 2 / 4 + 2 / 3) / 3)
    iou = [2 / (3 + 4 - 2), 2 / (4 + 3 - 2), 2 / (3 + 3 - 2)]
    np.testing.assert_allclose(scores["class_iou"], iou)
    assert scores["mean_iou"] == pytest.approx(np.mean(iou))
    metric = ConfusionMatrix(3)
    metric.update_state(LABELS, PREDICTIONS)
    assert float(metric.result()) == pytest.approx(np.mean(iou), rel=1e-6)


def test_absent_classes_do_not_count_in_the_means():
    matrix = np.zeros((4, 4))
    matrix[0, 0], matrix[1, 1], matrix[1, 0] = 5, 3, 1
    scores = scores_from_confusion(matrix)
    assert np.isnan(scores["class_iou"][2]) and np.isnan(scores["class_iou"][3])
    assert scores["mean_iou"] == pytest.approx((5 / 6 + 3 / 4) / 2)


def test_reset_and_config():
    metric = ConfusionMatrix(3, ignore_label=0, name="x")
    metric.update_state(LABELS, PREDICTIONS)
    assert metric.matrix.numpy()[0].sum() == 0  # label 0 is ignored here
    metric.reset_state()
    assert metric.matrix.numpy().sum() == 0
    assert ConfusionMatrix.from_config(metric.get_config()).ignore_label == 0


def test_counts_add_up_across_replicas():
    """Under MirroredStrategy the sum-aggregated matrix holds every replica's counts."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        metric = ConfusionMatrix(3)
    strategy.run(metric.update_state, args=(tf.constant(LABELS), tf.constant(PREDICTIONS)))
    np.testing.assert_array_equal(metric.matrix.numpy(), HAND_MATRIX)
