"""Joint augmentation: every modality and the mask move together."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras.data.augment import AugmentOptions, augment


def sample(height=40, width=60):
    v, u = np.mgrid[0:height, 0:width]
    labels = ((u // 7 + v // 5) % 6).astype(np.int32)
    depth = (labels.astype(np.float32) + 1.0)[..., None].repeat(3, -1)  # nearest: exact copy of labels
    rgb = np.stack([u / width, v / height, np.zeros_like(u, float)], -1).astype(np.float32)
    return {"rgb": tf.constant(rgb), "depth": tf.constant(depth)}, tf.constant(labels)


@pytest.mark.parametrize("seed", range(6))
def test_depth_and_mask_stay_aligned_and_padding_is_ignore(seed):
    inputs, mask = sample()
    options = AugmentOptions(crop_size=48, shorter_side=30, low_scale=0.5, high_scale=2.0)
    out, out_mask = augment(inputs, mask, tf.constant([seed, 1]), options, nearest_inputs=("depth",))
    out_mask = out_mask.numpy()
    depth = out["depth"].numpy()[..., 0]
    assert out["rgb"].shape == (48, 48, 3) and out_mask.shape == (48, 48)
    labelled = out_mask != 255
    np.testing.assert_array_equal(depth[labelled], out_mask[labelled] + 1.0)
    # Padding: ignore in the mask, zeros in the (normalised) images.
    assert np.all(depth[~labelled] == 0.0) and np.all(out["rgb"].numpy()[~labelled] == 0.0)


def test_shorter_side_is_kept_and_crop_size_is_even():
    inputs, mask = sample(40, 60)
    options = AugmentOptions(crop_size=31, shorter_side=80, low_scale=0.5, high_scale=0.5)
    out, out_mask = augment(inputs, mask, tf.constant([0, 0]), options, nearest_inputs=("depth",))
    # Scale raised to 80/40 = 2: the 80x120 image is cropped to 30 (odd crop sizes drop one).
    assert out_mask.shape == (30, 30)
    assert np.all(out_mask.numpy() != 255)  # no padding needed at that scale


def test_mirror_flips_every_modality_with_the_mask():
    inputs, mask = sample(40, 40)
    options = AugmentOptions(crop_size=40, shorter_side=40, low_scale=1.0, high_scale=1.0, mirror=True)
    flipped_seen = unflipped_seen = False
    for seed in range(12):
        out, out_mask = augment(inputs, mask, tf.constant([seed, 3]), options, nearest_inputs=("depth",))
        rgb_u = out["rgb"].numpy()[..., 0]
        flipped = rgb_u[0, 0] > rgb_u[0, -1]
        if flipped:
            flipped_seen = True
            np.testing.assert_array_equal(out_mask.numpy(), mask.numpy()[:, ::-1])
        else:
            unflipped_seen = True
            np.testing.assert_array_equal(out_mask.numpy(), mask.numpy())
    assert flipped_seen and unflipped_seen


def test_same_seed_same_result():
    inputs, mask = sample()
    options = AugmentOptions(crop_size=32, shorter_side=20)
    a = augment(inputs, mask, tf.constant([5, 5]), options)
    b = augment(inputs, mask, tf.constant([5, 5]), options)
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    np.testing.assert_array_equal(a[0]["rgb"].numpy(), b[0]["rgb"].numpy())
