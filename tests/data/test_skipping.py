"""`data.on_error=skip`: bad training samples left out of their batch, counted, logged; order kept."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from nyud_helpers import nyud_config, write_list, write_sample
from test_translation_data import config_for, write_point

from cenkeras.data import DataError
from cenkeras.data.pipeline import list_raw_dataset, training_dataset
from cenkeras.data.skipping import SKIPPED_KEY, SkipLog
from cenkeras.data.translation_pipeline import list_translation_dataset, translation_training_dataset

BATCH = 4


def dataset_with_bad_frames(root, bad=(2, 7)):
    for index in range(10):
        write_sample(root, index)
    write_list(root, "train.txt", range(10))
    for index in bad:
        path = root / "rgb" / f"{index:06d}.png"
        path.write_bytes(path.read_bytes()[:100])
    return nyud_config(root, crop_size=16, mirror=False)


def batches_of(config, skip_log, first_step=0, steps=5):
    raw, _ = list_raw_dataset(config.train_list, config, num_classes=5, skip_log=skip_log)
    dataset = training_dataset(raw, config, BATCH, seed=3, first_step=first_step)
    return [(inputs, mask) for inputs, mask in dataset.take(steps)]


def test_bad_samples_are_left_out_of_their_batch_and_counted(tmp_path):
    config = dataset_with_bad_frames(tmp_path)
    log = SkipLog()
    batches = batches_of(config, log, steps=5)  # 20 positions: two passes over the 10 frames
    sizes = [int(mask.shape[0]) for _, mask in batches]
    skipped = [int(tf.reduce_sum(inputs[SKIPPED_KEY])) for inputs, _ in batches]
    assert sum(skipped) == 4 and all(size + s == BATCH for size, s in zip(sizes, skipped))
    for inputs, mask in batches:
        assert inputs["rgb"].shape[0] == inputs["depth"].shape[0] == inputs[SKIPPED_KEY].shape[0] == mask.shape[0]
        counts = inputs[SKIPPED_KEY].numpy()
        assert (counts[1:] == 0).all()  # the batch's count sits on its first kept sample
    problems = log.take_new()
    assert len(problems) == 2 and all("cannot read image" in p for p in problems)
    assert {p.split("rgb/")[1][:11] for p in problems} == {"000002.png:", "000007.png:"}


def test_a_resumed_run_gets_the_batches_of_an_uninterrupted_one(tmp_path):
    config = dataset_with_bad_frames(tmp_path)
    uninterrupted = batches_of(config, SkipLog(), steps=5)[3:]
    resumed = batches_of(config, SkipLog(), first_step=3, steps=2)
    for (a_inputs, a_mask), (b_inputs, b_mask) in zip(uninterrupted, resumed):
        np.testing.assert_array_equal(a_mask, b_mask)
        for name in ("rgb", "depth", SKIPPED_KEY):
            np.testing.assert_array_equal(a_inputs[name], b_inputs[name])


def test_the_good_samples_are_those_a_clean_run_trains_on(tmp_path):
    """The kept samples of a batch are exactly that batch's good samples, augmented identically."""
    config = dataset_with_bad_frames(tmp_path, bad=())
    clean = batches_of(config, None, steps=5)
    spoiled = dataset_with_bad_frames(tmp_path, bad=(2, 7))
    skipping = batches_of(spoiled, SkipLog(), steps=5)
    for (inputs, mask), (kept_inputs, kept_mask) in zip(clean, skipping):
        survivors = [i for i in range(BATCH) if any(np.array_equal(mask[i], m) for m in kept_mask)]
        assert len(survivors) == kept_mask.shape[0]
        np.testing.assert_array_equal(tf.gather(mask, survivors), kept_mask)
        np.testing.assert_array_equal(tf.gather(inputs["depth"], survivors), kept_inputs["depth"])


def test_without_skip_the_first_bad_sample_stops(tmp_path):
    config = dataset_with_bad_frames(tmp_path)
    with pytest.raises(tf.errors.InvalidArgumentError, match="cannot read image"):
        batches_of(config, None, steps=5)


def test_a_batch_of_only_bad_samples_is_an_error(tmp_path):
    config = dataset_with_bad_frames(tmp_path, bad=range(10))
    with pytest.raises(tf.errors.InvalidArgumentError, match="every sample of a training batch failed"):
        batches_of(config, SkipLog(), steps=1)


def test_translation_batches_skip_too(tmp_path):
    for index in range(6):
        write_point(tmp_path, f"point_{index}", seed=index)
    (tmp_path / "train.txt").write_text("".join(f"{{domain}}/point_{i}_domain_{{domain}}.png\n" for i in range(6)))
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "normal" / "point_4_domain_normal.png")
    log = SkipLog()
    raw, _ = list_translation_dataset(tmp_path / "train.txt", config_for(tmp_path), skip_log=log)
    batches = list(translation_training_dataset(raw, config_for(tmp_path), 3, seed=0).take(2))
    assert sum(int(tf.reduce_sum(inputs[SKIPPED_KEY])) for inputs, _ in batches) == 1
    assert sorted(int(target.shape[0]) for _, target in batches) == [2, 3]
    (problem,) = log.take_new()
    assert "point_4_domain_normal.png" in problem and "16-bit" in problem


def test_skip_log_keeps_each_problem_once_and_forgets_none():
    log = SkipLog()
    log.mark_known(["old"])
    for problem in ("old", "a", "b", "a"):
        log.add(problem)
    assert log.take_new() == ["a", "b"]
    log.add("c")
    assert log.take_new() == ["c"]


def test_the_reader_still_stops_on_errors_that_are_not_data_errors(tmp_path):
    """Only decoding failures (DataError) are skipped; a bug in cenkeras is not hidden as a bad sample."""
    from cenkeras.data.skipping import guard_reader

    def broken(record):
        raise KeyError("bug")

    with pytest.raises(KeyError):
        guard_reader(broken, lambda: (), SkipLog())(b"x")
    failing = guard_reader(lambda r: (_ for _ in ()).throw(DataError("bad x")), lambda: (np.zeros(1),), SkipLog())
    assert failing(b"x")[-1] is False
