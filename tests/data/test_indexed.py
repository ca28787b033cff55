"""The training order is a function of (seed, position): resuming anywhere continues the same stream."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras.data.indexed import IndexedSamples


def take(dataset, count):
    samples, seeds = [], []
    for sample, seed in dataset.take(count):
        samples.append(int(sample))
        seeds.append(tuple(seed.numpy()))
    return samples, seeds


def numbered(count):
    return IndexedSamples(tf.range(count, dtype=tf.int64), lambda record: record)


def test_every_pass_visits_every_sample_once_in_a_new_order():
    samples, _ = take(numbered(7).training_order(seed=3), 7 * 4)
    passes = [samples[i : i + 7] for i in range(0, 28, 7)]
    for order in passes:
        assert sorted(order) == list(range(7))
    assert len({tuple(order) for order in passes}) == 4


@pytest.mark.parametrize("start", [0, 5, 7, 16])
def test_starting_later_gives_the_uninterrupted_stream_from_there(start):
    """Samples and augmentation seeds at positions start.. equal the uninterrupted run's,
    also when `start` falls inside a pass (steps_per_epoch x batch not a multiple of the count)."""
    samples = numbered(7)
    full_samples, full_seeds = take(samples.training_order(seed=11), 30)
    later_samples, later_seeds = take(samples.training_order(seed=11, start=start), 30 - start)
    assert later_samples == full_samples[start:]
    assert later_seeds == full_seeds[start:]


def test_seeds_differ_between_positions_and_recipes():
    samples = numbered(5)
    order_a, seeds_a = take(samples.training_order(seed=1), 20)
    order_b, seeds_b = take(samples.training_order(seed=2), 20)
    assert len(set(seeds_a)) == 20
    assert order_a != order_b and seeds_a != seeds_b


def test_records_are_decoded_in_order_when_iterated():
    samples = IndexedSamples(np.array([b"a", b"bb", b"ccc"]), tf.strings.length)
    assert len(samples) == 3
    assert [int(n) for n in samples] == [1, 2, 3]


def test_an_empty_dataset_is_refused():
    with pytest.raises(ValueError, match="at least one record"):
        IndexedSamples(tf.zeros([0], tf.int64), lambda record: record)
