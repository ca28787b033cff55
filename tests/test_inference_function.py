"""One traced inference function per model: evaluating many models prints no retracing warning."""

import logging

import keras
import tensorflow as tf

from cenkeras.utils.inference import inference_function


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def retracing_warnings(make_function, models=6):
    """Warnings TensorFlow logs while `make_function(model)` serves `models` models, each called
    with two batch sizes (an evaluation's full and last batches)."""
    records = Records()
    tf.get_logger().addHandler(records)
    try:
        for _ in range(models):
            model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
            infer = make_function(model)
            for batch in (4, 3, 4):
                assert tuple(infer(tf.zeros((batch, 3))).shape) == (batch, 2)
    finally:
        tf.get_logger().removeHandler(records)
    return [m for m in records.messages if "retracing" in m]


def test_serving_many_models_prints_no_retracing_warning():
    assert retracing_warnings(inference_function) == []


def test_a_lambda_per_model_would_have_warned():
    """The warning the helper avoids: TensorFlow counts the traces of one lambda's code together."""

    def per_model_lambda(model):
        return tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    assert retracing_warnings(per_model_lambda)
