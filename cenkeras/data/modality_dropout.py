"""Modality dropout: training batches that leave modalities out, so the network learns to run without each.

With `train.modality_dropout = p`, every training *batch* (not sample: the
absent streams are then not computed at all, see `cenkeras.models.subset`)
drops each modality independently with probability p. A batch never drops
all of them: when every draw says "drop", the modality with the largest
draw stays. The pattern of step s is a function of the recipe seed and s
alone, like the order and the augmentation (`cenkeras.data.indexed`), so
a resumed run sees the patterns an uninterrupted one would have.

The pattern travels inside the batch as `inputs[PRESENT_KEY]`: a bitmask
(bit m set = modality m present), repeated per sample so that
tf.distribute can split the batch between replicas like any other input.
"""

import tensorflow as tf

from cenkeras.data.indexed import stream_seed

PRESENT_KEY = "present_modalities"
# The recipe seed's stream for the drop patterns (apart from the order's and the augmentation's).
DROPOUT_STREAM = 0xD809


def present_pattern(seed, step, num_modalities, probability):
    """The bitmask (int32 scalar) of the modalities present at training step `step`.

    Examples:
        >>> int(present_pattern(0, 5, 2, 0.0))  # nothing dropped: both bits set
        3
        >>> 1 <= int(present_pattern(0, 5, 2, 0.99)) <= 2  # never none: one modality stays
        True
    """
    draws = tf.random.stateless_uniform([num_modalities], stream_seed(seed, DROPOUT_STREAM, step))
    present = draws >= probability
    largest = tf.one_hot(tf.argmax(draws), num_modalities, on_value=True, off_value=False)
    present = tf.where(tf.reduce_any(present), present, largest)
    bits = tf.bitwise.left_shift(tf.ones([num_modalities], tf.int32), tf.range(num_modalities, dtype=tf.int32))
    return tf.reduce_sum(tf.where(present, bits, 0))


def with_modality_dropout(batches, seed, first_step, num_modalities, probability):
    """`batches` of `(inputs, target)` with `inputs[PRESENT_KEY]`: the step's bitmask, per sample.

    `first_step` is the training step of the first batch (a resumed run's).
    """

    def add_pattern(step, batch):
        inputs, target = batch
        inputs = dict(inputs)
        size = tf.shape(next(iter(inputs.values())))[0]
        inputs[PRESENT_KEY] = tf.fill([size], present_pattern(seed, step, num_modalities, probability))
        return inputs, target

    return batches.enumerate(start=first_step).map(add_pattern, num_parallel_calls=tf.data.AUTOTUNE)


def subsets_by_pattern(modalities):
    """`[(bitmask, present modalities)]` for every non-empty subset, bitmask 1 .. 2^M - 1.

    Examples:
        >>> subsets_by_pattern(["rgb", "depth"])
        [(1, ('rgb',)), (2, ('depth',)), (3, ('rgb', 'depth'))]
    """
    count = len(modalities)
    return [(mask, tuple(m for i, m in enumerate(modalities) if mask >> i & 1)) for mask in range(1, 2**count)]


def pop_present_pattern(inputs):
    """`(inputs without PRESENT_KEY, its bitmask as an int32 scalar)`; the bitmask is None without it."""
    if PRESENT_KEY not in inputs:
        return inputs, None
    inputs = dict(inputs)
    pattern = inputs.pop(PRESENT_KEY)
    return inputs, pattern[0]
