"""The synthetic RGB-D scenes: deterministic, NYUDv2-like files, complementary modalities."""

import numpy as np
import pytest

from cenkeras.config import SyntheticConfig
from cenkeras.data.synthetic import BALL, BOX, NUM_CLASSES, POSTER, WALL, render_scene
from cenkeras.data.synthetic_tfds import load_synthetic


def test_scenes_are_deterministic_and_nyudv2_like():
    a, b = render_scene(3, 48, 64), render_scene(3, 48, 64)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert a["rgb"].dtype == np.uint8 and a["rgb"].shape == (48, 64, 3)
    assert a["depth"].dtype == np.uint16 and a["mask"].max() < NUM_CLASSES
    assert (a["depth"] == 0).any()  # holes
    metres = a["depth"][a["depth"] > 0] / 5000.0
    assert 0.5 < metres.min() and metres.max() < 10.0
    assert not np.array_equal(render_scene(4, 48, 64)["rgb"], a["rgb"])


def test_every_class_appears():
    seen = set()
    for seed in range(30):
        seen |= set(np.unique(render_scene(seed, 48, 64)["mask"]).tolist())
    assert seen == set(range(NUM_CLASSES))


@pytest.mark.parametrize("seed", range(5))
def test_boxes_are_invisible_in_colour(seed):
    """Geometry-only class: removing the boxes changes depth and labels, not the colour image."""
    scene = render_scene(seed, 48, 64, noise=False)
    without = render_scene(seed, 48, 64, noise=False, with_boxes=False)
    boxes = scene["mask"] == BOX
    comparable = boxes & (without["mask"] != BALL)  # a ball hidden behind a box reappears
    assert boxes.any()
    np.testing.assert_array_equal(scene["rgb"][comparable], without["rgb"][comparable])
    assert np.abs(scene["depth"][boxes].astype(int) - without["depth"][boxes].astype(int)).min() > 0


@pytest.mark.parametrize("seed", range(5))
def test_posters_are_invisible_in_depth(seed):
    """Colour-only class: posters lie flat on the back wall (constant z, like the wall)."""
    scene = render_scene(seed, 48, 64, noise=False)
    posters = scene["mask"] == POSTER
    assert posters.any()  # every scene of these seeds shows one: the checks below always run
    wall_depths = np.unique(scene["depth"][scene["mask"] == WALL])
    poster_depths = np.unique(scene["depth"][posters])
    assert len(poster_depths) == 1 and poster_depths[0] == wall_depths.max()
    colours = scene["rgb"][posters].astype(int)
    wall = scene["rgb"][(scene["mask"] == WALL) & (scene["depth"] == wall_depths.max())].astype(int)
    assert np.abs(colours.mean(0) - wall.mean(0)).max() > 10  # but they differ in colour


def test_tfds_builder_prepares_once_and_reads_back(tmp_path, capsys):
    config = SyntheticConfig(num_train=3, num_val=2, height=16, width=24, seed=1)
    train = list(load_synthetic("train", config, str(tmp_path)).dataset().as_numpy_iterator())
    # Said once, as what it is: generated here, where, how to start again; no "Downloading".
    said = capsys.readouterr().out
    assert said.startswith("Generating the synthetic scenes (synthetic_rgbd, h16_w24_train3_val2_seed1; nothing")
    assert f"into {tmp_path}" in said and "Delete that folder" in said and "Downloading" not in said
    assert len(train) == 3
    expected = {render_scene(1 * 7919 + i, 16, 24)["depth"].tobytes() for i in range(3)}
    assert {example["depth"][..., 0].tobytes() for example in train} == expected
    stamp = sorted(p.stat().st_mtime for p in tmp_path.rglob("*.tfrecord*"))
    again = list(load_synthetic("validation", config, str(tmp_path)).dataset().as_numpy_iterator())
    assert len(again) == 2 and capsys.readouterr().out == ""
    assert sorted(p.stat().st_mtime for p in tmp_path.rglob("*.tfrecord*")) == stamp  # not regenerated
