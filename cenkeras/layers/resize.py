"""Bilinear resizing with PyTorch's `align_corners=True` sampling."""

import keras
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

    Examples:
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
    if keras.backend.backend() != "tensorflow":
        return _resize_by_interpolation_matrices(x, size, align_corners)
    import tensorflow as tf  # the TF kernels are the fast path on the TensorFlow backend

    if align_corners:
        # The TF2 resize API has no corner-aligned mode; the raw op does, with a gradient.
        dtype = x.dtype
        y = tf.raw_ops.ResizeBilinear(
            images=x, size=tf.cast(tf.stack(size), tf.int32), align_corners=True, half_pixel_centers=False
        )
        return tf.cast(y, dtype)
    return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)


def _interpolation_matrix(out_size, in_size, align_corners):
    """(out_size, in_size) weights of 1-D linear interpolation (static sizes)."""
    if align_corners:
        step = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
        source = ops.arange(out_size, dtype="float32") * step
    else:
        source = ops.maximum((ops.arange(out_size, dtype="float32") + 0.5) * (in_size / out_size) - 0.5, 0.0)
    low = ops.minimum(ops.floor(source), in_size - 1)
    high = ops.minimum(low + 1, in_size - 1)
    frac = source - low
    columns = ops.arange(in_size, dtype="float32")[None, :]
    return (
        ops.cast(columns == low[:, None], "float32") * (1 - frac)[:, None]
        + ops.cast(columns == high[:, None], "float32") * frac[:, None]
    )


def _resize_by_interpolation_matrices(x, size, align_corners):
    """The same resize as two small matrix products (other Keras backends, e.g. JAX on a GPU)."""
    height, width = int(size[0]), int(size[1])
    rows = ops.cast(_interpolation_matrix(height, x.shape[1], align_corners), x.dtype)
    cols = ops.cast(_interpolation_matrix(width, x.shape[2], align_corners), x.dtype)
    y = ops.einsum("oh,bhwc->bowc", rows, x)
    return ops.einsum("pw,bowc->bopc", cols, y)


def _antialiased_weights(out_size, in_size):
    """(out_size, in_size) weights of TensorFlow's antialiased bilinear resize along one axis.

    The triangle kernel of `tf.raw_ops.ScaleAndTranslate` (what `tf.image.resize(..., antialias=True)`
    runs), widened by in/out when shrinking, taps at pixel centres, each row normalised over the taps
    inside the image. `in_size` may be a tensor: the weights are built in the graph.
    """
    import tensorflow as tf

    in_size = tf.cast(in_size, tf.float32)
    scale = float(out_size) / in_size
    kernel_scale = tf.maximum(1.0 / scale, 1.0)
    centres = (tf.range(out_size, dtype=tf.float32) + 0.5) / scale
    taps = tf.range(in_size, dtype=tf.float32) + 0.5
    weights = tf.maximum(0.0, 1.0 - tf.abs(taps[None, :] - centres[:, None]) / kernel_scale)
    return weights / tf.reduce_sum(weights, axis=1, keepdims=True)


def resize_antialiased(x, size):
    """`tf.image.resize(x, size, antialias=True)` (bilinear) of an NHWC float tensor as two matrix
    products: the same values, in ops every converter knows (LiteRT has no ScaleAndTranslate).

    Examples:
        >>> import numpy as np, tensorflow as tf
        >>> x = np.random.default_rng(0).normal(size=(1, 37, 50, 3)).astype("float32")
        >>> expected = tf.image.resize(x, (16, 16), antialias=True)
        >>> bool(np.allclose(resize_antialiased(x, (16, 16)), expected, atol=1e-5))
        True
    """
    import tensorflow as tf

    shape = tf.shape(x)
    rows = _antialiased_weights(int(size[0]), shape[1])
    columns = _antialiased_weights(int(size[1]), shape[2])
    x = tf.einsum("oh,bhwc->bowc", rows, tf.cast(x, tf.float32))
    return tf.einsum("pw,bowc->bopc", columns, x)


# OpenCV's INTER_CUBIC and PyTorch's `mode="bicubic"` use Keys' cubic with a = -0.75;
# `tf.image.resize(method="bicubic")` uses a = -0.5, whose argmax differs at class borders.
OPENCV_CUBIC_A = -0.75


def _cubic(distance, a=OPENCV_CUBIC_A):
    """Keys' cubic convolution kernel at |distance| < 2."""
    import tensorflow as tf

    d = tf.abs(distance)
    near = ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
    far = ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
    return tf.where(d <= 1.0, near, tf.where(d < 2.0, far, 0.0))


def _bicubic_weights(out_size, in_size):
    """(out_size, in_size) weights of OpenCV's INTER_CUBIC along one axis: samples at pixel
    centres, four taps, indices outside the image clamped to its edge (both sizes may be tensors)."""
    import tensorflow as tf

    scale = tf.cast(in_size, tf.float32) / tf.cast(out_size, tf.float32)
    source = (tf.range(tf.cast(out_size, tf.float32)) + 0.5) * scale - 0.5
    base = tf.floor(source)
    weights = 0.0
    for tap in (-1.0, 0.0, 1.0, 2.0):
        index = tf.clip_by_value(tf.cast(base + tap, tf.int32), 0, tf.cast(in_size, tf.int32) - 1)
        weights += tf.one_hot(index, in_size) * _cubic(source - (base + tap))[:, None]
    return weights


def resize_bicubic(x, size):
    """Bicubic resize of an NHWC float tensor to `size`, as OpenCV's `cv2.resize(..., INTER_CUBIC)`
    (and PyTorch's `interpolate(mode="bicubic", align_corners=False)`) compute it in float32.

    The official CEN evaluation upsamples its logits this way before the argmax.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(4, dtype="float32").reshape(1, 1, 4, 1)
        >>> [round(float(v), 3) for v in resize_bicubic(x, (1, 8))[0, 0, :, 0]]
        [-0.105, 0.191, 0.668, 1.297, 1.703, 2.332, 2.809, 3.105]
    """
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    shape = tf.shape(x)
    rows = _bicubic_weights(size[0], shape[1])
    columns = _bicubic_weights(size[1], shape[2])
    x = tf.einsum("oh,bhwc->bowc", rows, x)
    return tf.einsum("pw,bowc->bopc", columns, x)
