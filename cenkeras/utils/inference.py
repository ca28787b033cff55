"""A traced inference function for one model, counted apart from every other model's."""

import functools

import tensorflow as tf


def _call_in_inference_mode(model, inputs):
    return model(inputs, training=False)


def inference_function(model):
    """`tf.function(lambda x: model(x, training=False))`, one per model, shape-relaxed.

    TensorFlow counts the traces of every function made from the same code together and warns
    of "excessive retracing" after five; a `functools.partial` carries no code of its own, so
    each model's function is counted on its own. Evaluating several runs in one process (the
    reproduce tables) or scoring several image sets traces each model once or twice, which
    is expected and should not print a warning.

    Examples:

    >>> import keras
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> infer = inference_function(model)
    >>> tuple(infer(tf.zeros((4, 3))).shape)
    (4, 2)
    """
    return tf.function(functools.partial(_call_in_inference_mode, model), reduce_retracing=True)
