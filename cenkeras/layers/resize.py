"""Bilinear resizing with PyTorch's `align_corners=True` sampling."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="cenkeras")
class ResizeLike(keras.layers.Layer):
    """Resize `x` bilinearly to the spatial size of `reference`.

    Called as `layer([x, reference])`. With `align_corners=True` (the
    RefineNet decoder of the official code) the corner pixels of input and
    output are aligned; with False it samples at pixel centres
    (`tf.image.resize`, PyTorch's `align_corners=False`). The output size
    is taken from the reference at run time, so any input size works.

    Args:
        align_corners: corner-aligned sampling.

    Example:
    >>> up = ResizeLike()
    >>> y = up([keras.ops.ones((1, 4, 4, 8)), keras.ops.zeros((1, 8, 8, 2))])
    >>> y.shape
    TensorShape([1, 8, 8, 8])
    """

    def __init__(self, align_corners=True, **kwargs):
        super().__init__(**kwargs)
        self.align_corners = bool(align_corners)

    def call(self, inputs):
        x, reference = inputs
        size = ops.shape(reference)[1:3]
        return resize_bilinear(x, size, self.align_corners)

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        return (x_shape[0], ref_shape[1], ref_shape[2], x_shape[3])

    def get_config(self):
        config = super().get_config()
        config["align_corners"] = self.align_corners
        return config


def resize_bilinear(x, size, align_corners):
    """Bilinear resize of an NHWC tensor to `size` (height, width)."""
    if align_corners:
        # The TF2 resize API has no corner-aligned mode; the raw op does, with a gradient.
        dtype = x.dtype
        y = tf.raw_ops.ResizeBilinear(
            images=x, size=tf.cast(tf.stack(size), tf.int32), align_corners=True, half_pixel_centers=False
        )
        return tf.cast(y, dtype)
    return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)
