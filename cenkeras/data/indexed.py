"""Datasets read by index, and a training order that is a pure function of (seed, position).

A training run that is killed and resumed at epoch k must see, from epoch
k on, exactly the batches an uninterrupted run would have seen. A
`shuffle().repeat()` pipeline cannot do that: its order depends on how
many elements the iterator has produced in this process. Here every
training position p (the p-th sample the run consumes, counted from the
first epoch) is mapped to a sample index by a permutation drawn from
(seed, p // count), and its augmentation seed is drawn from (seed, p):
resuming at epoch k only needs p = k x steps x batch. Epochs that are not
whole passes (a recipe's `steps_per_epoch`) simply continue the stream of
passes, and every pass visits every sample once.
"""

import tensorflow as tf

# Separate streams of the recipe's seed for the order and for the augmentation.
ORDER_STREAM, AUGMENT_STREAM = 0x0DE5, 0xA06


def stream_seed(seed, stream, counter):
    """The stateless seed (shape [2]) of `counter` in the recipe seed's stream `stream`."""
    base = tf.constant([seed, stream], tf.int64)
    return tf.random.experimental.stateless_fold_in(base, tf.cast(counter, tf.int64))


def permutation(count, seed, pass_index):
    """The order of pass `pass_index`: a permutation of range(count) drawn from (seed, pass_index)."""
    keys = tf.random.stateless_uniform([count], stream_seed(seed, ORDER_STREAM, pass_index))
    return tf.cast(tf.argsort(keys), tf.int64)


def augmentation_seed(seed, position):
    """The stateless seed (shape [2]) for the sample at training `position`."""
    return stream_seed(seed, AUGMENT_STREAM, position)


class IndexedSamples:
    """A dataset readable by position: one cheap record per sample and a function decoding it.

    Records are what identifies a sample (a row of file paths, an encoded
    example) and are held in memory; `decode` turns one record into a
    sample (nested tensors) inside the tf.data graph. Iterating gives the
    samples in record order.

    Args:
        records: a tensor (or array / list) whose first axis runs over samples.
        decode: `record -> sample`, traced by tf.data.
        flags_failures: `decode` returns `(sample, ok)`, `ok` False for a
            sample that could not be read (`cenkeras.data.skipping`).

    Examples:

        >>> samples = IndexedSamples(tf.constant([1.0, 2.0, 3.0]), lambda r: r * 10)
        >>> [float(s) for s in samples]
        [10.0, 20.0, 30.0]
        >>> batch = next(iter(samples.training_order(seed=0, start=0)))  # (sample, augmentation seed)
    """

    def __init__(self, records, decode, flags_failures=False):
        self.records = tf.convert_to_tensor(records)
        if self.records.shape.rank == 0 or self.records.shape[0] == 0:
            raise ValueError("IndexedSamples needs at least one record.")
        self.decode = decode
        self.flags_failures = flags_failures

    def __len__(self):
        return int(self.records.shape[0])

    def dataset(self):
        """The samples in record order (parallel decoding, order kept)."""
        records = tf.data.Dataset.from_tensor_slices(self.records)
        return records.map(self.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def __iter__(self):
        return iter(self.dataset())

    def training_order(self, seed, start=0):
        """Endless `(sample, augmentation seed)` pairs from training position `start` on.

        Position p reads sample `permutation(count, seed, p // count)[p % count]`,
        so the elements from `start` on are the same whether or not the
        run was interrupted before `start`.
        """
        count, start = len(self), int(start)
        first_pass, offset = divmod(start, count)
        indices = (
            tf.data.Dataset.counter(first_pass)
            .flat_map(lambda pass_index: tf.data.Dataset.from_tensor_slices(permutation(count, seed, pass_index)))
            .skip(offset)
        )
        positions = tf.data.Dataset.counter(start)

        def read(index, position):
            return self.decode(tf.gather(self.records, index)), augmentation_seed(seed, position)

        pairs = tf.data.Dataset.zip((indices, positions))
        return pairs.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
