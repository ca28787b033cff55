"""Modality dropout's drop patterns: never every modality, about the asked rate, and a pure function
of the seed and the training step (a resumed run sees the same patterns)."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras import config as config_lib
from cenkeras.config import ConfigError
from cenkeras.data.modality_dropout import (
    PRESENT_KEY,
    pop_present_pattern,
    present_pattern,
    subsets_by_pattern,
    with_modality_dropout,
)
from cenkeras.experiments.recipe_files import load_recipe


def patterns(seed, first_step, count, num_modalities=2, probability=0.3):
    batches = tf.data.Dataset.from_tensors(({"rgb": tf.zeros((4, 2, 2, 3))}, tf.zeros((4, 2, 2)))).repeat(count)
    stream = with_modality_dropout(batches, seed, first_step, num_modalities, probability)
    out = []
    for inputs, _ in stream:
        per_sample = inputs[PRESENT_KEY].numpy()
        assert per_sample.shape == (4,) and len(set(per_sample)) == 1  # one pattern per batch
        out.append(int(per_sample[0]))
    return out


def test_patterns_are_a_function_of_seed_and_step():
    whole = patterns(seed=3, first_step=0, count=40)
    assert patterns(seed=3, first_step=25, count=15) == whole[25:]  # resumed at step 25
    assert patterns(seed=4, first_step=0, count=40) != whole


@pytest.mark.parametrize("num_modalities", [2, 3])
def test_no_batch_drops_every_modality_and_the_rate_is_near_p(num_modalities):
    probability = 0.3
    drawn = np.array([int(present_pattern(7, step, num_modalities, probability)) for step in range(600)])
    assert drawn.min() >= 1 and drawn.max() <= 2**num_modalities - 1
    bits = (drawn[:, None] >> np.arange(num_modalities)) & 1
    dropped = 1 - bits.mean(axis=0)
    # Each modality drops with p, a little less where "all dropped" gives one back.
    assert np.all(np.abs(dropped - probability) < 0.07), dropped
    assert set(int(present_pattern(7, step, num_modalities, 0.0)) for step in range(20)) == {2**num_modalities - 1}


def test_subsets_and_popping_the_pattern():
    assert subsets_by_pattern(["a", "b", "c"])[4] == (5, ("a", "c"))
    inputs, pattern = pop_present_pattern({"rgb": 1, PRESENT_KEY: tf.constant([2, 2])})
    assert inputs == {"rgb": 1} and int(pattern) == 2
    assert pop_present_pattern({"rgb": 1}) == ({"rgb": 1}, None)


def test_recipe_checks_modality_dropout():
    recipe = load_recipe("synthetic_rgbd")
    config_lib.apply_overrides(recipe, ["train.modality_dropout=0.25"])
    config_lib.validate(recipe)
    for overrides, message in [
        (["train.modality_dropout=1.0"], "train.modality_dropout must be in \\[0, 1\\), got 1.0"),
        (["train.modality_dropout=0.3", "data.inputs=rgb"], "needs at least 2 input modalities"),
        (["train.modality_dropout=0.3", "model.fusion.method=concat"], "needs every modality"),
        (["train.modality_dropout=0.3", "model.ensemble=concat"], "needs model.ensemble=alpha"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_lib.validate(config_lib.apply_overrides(load_recipe("synthetic_rgbd"), overrides))
