"""M modality streams stacked along the batch axis.

A CEN network runs the same shared convolutions on M streams. Stacking the
streams into one tensor of batch M x B runs each convolution once on a
bigger batch instead of M times, which oneDNN and cuDNN execute faster and
which halves the number of ops the runtime schedules. Stream m occupies
rows [m * B, (m + 1) * B) of the stacked batch; the private norms and the
exchange view the stacked tensor as (M, B x H x W, C) rows (`stream_rows`)
and apply per-stream scales, shifts and masks by broadcasting, without
copying streams apart.
"""

import keras
from keras import ops

from cenkeras.layers.presence import check_stream_count, present_modalities


def stream_view(x, num_modalities):
    """(M * B, ...) -> (M, B, ...): a free reshape, no copy."""
    shape = ops.shape(x)
    return ops.reshape(x, (num_modalities, -1, *shape[1:]))


def stacked_view(y):
    """(M, B, ...) -> (M * B, ...): the inverse of `stream_view`."""
    shape = ops.shape(y)
    return ops.reshape(y, (-1, *shape[2:]))


def stream_rows(x, num_streams):
    """(M * B, ..., C) -> (M, B * ..., C): each stream's pixels as rows of C values, no copy.

    One reshape to a constant shape (M and C are static), however many of
    B, H, W are unknown: a stream view that keeps every dimension costs a
    shape slice per unknown one, and a CEN network has one view per norm,
    which made the slices most of a serving graph's nodes (and of the
    memory a loaded SavedModel spends on its graphs).
    """
    return ops.reshape(x, (num_streams, -1, x.shape[-1]))


def unstream_rows(rows, like):
    """The inverse of `stream_rows`: `rows` back in the stacked shape of `like`."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        # Two graph nodes; keras.ops.shape slices out every unknown dimension and packs them
        # again, 16 nodes a norm when height and width are unknown (a serving signature).
        return tf.reshape(rows, tf.shape(like))
    return ops.reshape(rows, ops.shape(like))


def broadcast_per_stream(values, rank):
    """(M, C) per-stream vectors -> (M, 1, ..., 1, C), broadcastable against a stream view of `rank` + 1."""
    return ops.reshape(values, (values.shape[0],) + (1,) * (rank - 1) + (values.shape[-1],))


@keras.saving.register_keras_serializable(package="cenkeras")
class StackStreams(keras.layers.Layer):
    """Concatenate a list of M stream tensors along the batch axis (or of the `present` ones).

    Examples:
        >>> stacked = StackStreams(2)([keras.ops.ones((3, 8, 8, 4)), keras.ops.zeros((3, 8, 8, 4))])
        >>> stacked.shape
        TensorShape([6, 8, 8, 4])
    """

    def __init__(self, num_modalities, **kwargs):
        super().__init__(**kwargs)
        self.num_modalities = int(num_modalities)

    def call(self, inputs, present=None):
        check_stream_count(inputs, present_modalities(present, self.num_modalities, self.name), self.name)
        return ops.concatenate(list(inputs), axis=0)

    def compute_output_shape(self, input_shape):
        first = tuple(input_shape[0])
        batch = None if first[0] is None else first[0] * len(input_shape)
        return (batch,) + first[1:]

    def get_config(self):
        return {**super().get_config(), "num_modalities": self.num_modalities}


@keras.saving.register_keras_serializable(package="cenkeras")
class UnstackStreams(keras.layers.Layer):
    """Split a batch-stacked tensor back into its M streams (the inverse of `StackStreams`),
    or into the `present` ones.

    Examples:
        >>> rgb, depth = UnstackStreams(2)(keras.ops.ones((6, 8, 8, 4)))
        >>> rgb.shape
        TensorShape([3, 8, 8, 4])
    """

    def __init__(self, num_modalities, **kwargs):
        super().__init__(**kwargs)
        self.num_modalities = int(num_modalities)

    def call(self, inputs, present=None):
        return ops.split(inputs, len(present_modalities(present, self.num_modalities, self.name)), axis=0)

    def compute_output_spec(self, inputs, present=None):
        count = len(present_modalities(present, self.num_modalities, self.name))
        batch = None if inputs.shape[0] is None else inputs.shape[0] // count
        return [keras.KerasTensor((batch, *inputs.shape[1:]), dtype=inputs.dtype) for _ in range(count)]

    def get_config(self):
        return {**super().get_config(), "num_modalities": self.num_modalities}
