"""`data.on_error=skip`: a training sample that fails to decode is left out of its batch, counted and logged.

With the default `stop`, the first bad file ends training with an error
naming it. On a large dataset with a few bad files a user may rather train
on: then the reader turns the failure into a placeholder sample flagged as
bad (`guard_reader`), the batch is formed as always, and the flagged samples
are removed from it (`batch_leaving_out_skipped`), so the batch is smaller
by that many. Which positions form which batch does not change, so the
deterministic training order and its resume hold as before.

The count reaches the trainer inside the batch (`SKIPPED_KEY`, per kept
sample, summed over the batch), so each epoch's count is exact (prefetching
reads ahead into the next epoch); the trainers log it as the `skipped`
metric (progress bar, epoch summary, metrics.jsonl, TensorBoard). The
problems themselves, with the file each names, are kept by a `SkipLog` that
the run writes to `skipped.tsv`.

Only training batches skip: validation and `eval` stop on a bad file (a
score over a silently smaller set would not compare with others), and
`cenkeras check-data` finds every bad file beforehand.
"""

import threading

import tensorflow as tf

from cenkeras.data.modalities import DataError

ON_ERROR_RULES = ("stop", "skip")
# The inputs entry of a training batch that carries how many of its samples were left out.
SKIPPED_KEY = "skipped_samples"
# The message of a batch whose samples all failed (found in TensorFlow's error by the CLI).
ALL_FAILED = (
    "cenkeras data error: every sample of a training batch failed to decode (data.on_error=skip); "
    "too many bad files to train on: run cenkeras check-data to list them."
)


class SkipLog:
    """The distinct problems of the samples left out so far, in the order first met (thread-safe).

    Examples:

        >>> log = SkipLog()
        >>> log.add("cannot read image a.png"); log.add("cannot read image a.png")
        >>> log.take_new()
        ['cannot read image a.png']
        >>> log.take_new()
        []
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._problems = []
        self._known = set()
        self._taken = 0

    def add(self, problem):
        with self._lock:
            if problem not in self._known:
                self._known.add(problem)
                self._problems.append(problem)

    def mark_known(self, problems):
        """Problems already written (by the run before a resume): never returned by `take_new`."""
        with self._lock:
            self._known.update(problems)

    def take_new(self):
        """Problems added since the last call."""
        with self._lock:
            new, self._taken = self._problems[self._taken :], len(self._problems)
            return new


def guard_reader(read, placeholder, log):
    """`read` (record -> tuple of arrays) that returns `(*placeholder, False)` instead of raising a DataError.

    A good sample comes back as `(*arrays, True)`. The problem goes to `log`
    (`SkipLog`) without its "cenkeras data error:" prefix.
    """

    def guarded(record):
        try:
            outputs = read(record)
        except DataError as error:
            log.add(str(error).removeprefix("cenkeras data error: "))
            return (*placeholder(), False)
        return (*outputs, True)

    return guarded


def batch_leaving_out_skipped(dataset, batch_size):
    """Batches of `((inputs dict, target), ok)` elements without the samples whose `ok` is False.

    The result is `(inputs + {SKIPPED_KEY: (kept,) int32}, target)`: the
    batch's count of left-out samples sits on its first kept sample (zeros
    elsewhere), so summing it over any split of the batch across replicas
    gives the count once. A batch whose samples all failed is an error.
    """

    def leave_out(sample, ok):
        inputs, target = sample
        kept = tf.reduce_sum(tf.cast(ok, tf.int32))
        check = tf.debugging.assert_positive(kept, message=ALL_FAILED)
        with tf.control_dependencies([check]):
            skipped = tf.size(ok) - kept
        inputs = {name: tf.boolean_mask(value, ok) for name, value in inputs.items()}
        inputs[SKIPPED_KEY] = tf.one_hot(0, kept, on_value=skipped, off_value=0, dtype=tf.int32)
        return inputs, tf.boolean_mask(target, ok)

    return dataset.batch(batch_size, drop_remainder=True).map(leave_out, num_parallel_calls=tf.data.AUTOTUNE)


def pop_skipped_count(inputs, tracker):
    """`inputs` without `SKIPPED_KEY`; its total is added to `tracker` (a Sum metric) if both are there."""
    if SKIPPED_KEY not in inputs:
        return inputs
    inputs = dict(inputs)
    skipped = inputs.pop(SKIPPED_KEY)
    if tracker is not None:
        tracker.update_state(tf.cast(tf.reduce_sum(skipped), tf.float32))
    return inputs
