"""Adaptive average pooling to a fixed grid, as PyTorch's `AdaptiveAvgPool2d` computes it."""

import keras
from keras import ops


def adaptive_pooling_matrix(bins, size, dtype="float32"):
    """(bins, size) averaging weights: row i averages cells [floor(i*size/bins), ceil((i+1)*size/bins)).

    Those are PyTorch's adaptive pooling windows: they overlap where `size`
    is not a multiple of `bins` and cover every cell. `size` may be a
    symbolic (run-time) dimension, so one model serves every input size.
    """
    size_f = ops.cast(size, "float32")
    index = ops.arange(bins, dtype="float32")
    start = ops.floor(index * size_f / bins)
    end = ops.ceil((index + 1.0) * size_f / bins)
    cells = ops.cast(ops.arange(size), "float32")[None, :]
    inside = ops.cast((cells >= start[:, None]) & (cells < end[:, None]), "float32")
    return ops.cast(inside / (end - start)[:, None], dtype)


@keras.saving.register_keras_serializable(package="cenkeras")
class AdaptiveAveragePooling(keras.layers.Layer):
    """Average-pool an NHWC tensor to a `bins` x `bins` grid, whatever its size.

    The pyramid pooling module of PSPNet pools its input to 1x1, 2x2, 3x3 and
    6x6 grids. Keras' pooling layers take a window, not an output size, and a
    window computed from the input size cannot reproduce PyTorch's
    overlapping windows for sizes that `bins` does not divide (60 rows into
    6 bins divide; 45 do not). Here each output cell is a weighted sum of
    input rows and columns (two small matrix products), so the windows are
    PyTorch's exactly and the layer exports with dynamic sizes.

    Args:
        bins: the output grid's height and width.

    Examples:
        >>> pool = AdaptiveAveragePooling(2)
        >>> x = keras.ops.reshape(keras.ops.arange(9, dtype="float32"), (1, 3, 3, 1))
        >>> keras.ops.convert_to_numpy(pool(x))[0, :, :, 0].tolist()
        [[2.0, 3.0], [5.0, 6.0]]
    """

    def __init__(self, bins, **kwargs):
        super().__init__(**kwargs)
        if int(bins) < 1:
            raise ValueError(f"bins must be >= 1, got {bins}.")
        self.bins = int(bins)

    def call(self, x):
        shape = ops.shape(x)
        if self.bins == 1:
            return ops.mean(x, axis=(1, 2), keepdims=True)
        rows = adaptive_pooling_matrix(self.bins, shape[1], x.dtype)
        cols = adaptive_pooling_matrix(self.bins, shape[2], x.dtype)
        pooled = ops.einsum("ih,bhwc->biwc", rows, x)
        return ops.einsum("jw,biwc->bijc", cols, pooled)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins, self.bins, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "bins": self.bins}
