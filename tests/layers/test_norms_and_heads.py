"""InstanceNormalization, ModalityEnsemble, ResizeLike and SliceL1 against NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import (
    InstanceNormalization,
    ModalityEnsemble,
    ParallelNormalization,
    ResizeLike,
    SliceL1,
    modality_parts,
)


def test_instance_norm_training_uses_instance_statistics_and_tracks_like_pytorch():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(3, 5, 4, 6)).astype(np.float32)
    norm = InstanceNormalization()
    norm.build(x.shape)
    gamma = rng.uniform(0.5, 1.5, 6).astype(np.float32)
    norm.gamma.assign(gamma)
    out = norm(x, training=True).numpy()
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5) * gamma, rtol=1e-4, atol=1e-5)
    # PyTorch: running = 0.9 * running + 0.1 * batch-mean of the unbiased instance statistics.
    unbiased = x.var(axis=(1, 2), ddof=1).mean(axis=0)
    np.testing.assert_allclose(norm.moving_mean.numpy(), 0.1 * x.mean(axis=(1, 2)).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-5)


def test_instance_norm_inference_uses_running_statistics_when_tracked():
    x = np.random.default_rng(1).normal(size=(2, 3, 3, 4)).astype(np.float32)
    tracked = InstanceNormalization()
    tracked.build(x.shape)
    tracked.moving_mean.assign(np.full(4, 0.5, np.float32))
    tracked.moving_variance.assign(np.full(4, 4.0, np.float32))
    np.testing.assert_allclose(tracked(x, training=False).numpy(), (x - 0.5) / np.sqrt(4.0 + 1e-5), rtol=1e-5)
    untracked = InstanceNormalization(track_running_stats=False)
    out = untracked(x, training=False).numpy()
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0.0, atol=1e-5)
    assert len(untracked.weights) == 2


def test_instance_norm_keeps_bfloat16_activations():
    norm = InstanceNormalization(dtype="mixed_bfloat16")
    out = norm(tf.ones((1, 2, 2, 3), tf.bfloat16) * tf.range(3, dtype=tf.bfloat16), training=True)
    assert out.dtype == tf.bfloat16
    assert norm.gamma.dtype == "float32"


def test_ensemble_is_softmax_weighted_and_trains_alpha_only():
    layer = ModalityEnsemble(3)
    preds = [tf.constant(np.full((1, 2, 2, 1), v, np.float32)) for v in (1.0, 2.0, 4.0)]
    layer.build([p.shape for p in preds])
    layer.alpha.assign([0.0, 1.0, 2.0])
    weights = np.exp([0.0, 1.0, 2.0]) / np.exp([0.0, 1.0, 2.0]).sum()
    with tf.GradientTape() as tape:
        tape.watch(preds)
        out = layer(preds)
        loss = tf.reduce_sum(out)
    np.testing.assert_allclose(out.numpy(), np.full((1, 2, 2, 1), weights @ [1.0, 2.0, 4.0]), rtol=1e-6)
    grads = tape.gradient(loss, preds + [layer.alpha])
    assert all(g is None for g in grads[:3])  # the branches are detached
    assert np.abs(grads[3].numpy()).max() > 0


def reference_resize_align_corners(x, height, width):
    """Bilinear sampling at corner-aligned positions, pixel by pixel."""
    _, h, w, _ = x.shape
    out = np.zeros((x.shape[0], height, width, x.shape[3]))
    for i in range(height):
        for j in range(width):
            y = i * (h - 1) / max(height - 1, 1)
            z = j * (w - 1) / max(width - 1, 1)
            y0, z0 = int(np.floor(y)), int(np.floor(z))
            y1, z1 = min(y0 + 1, h - 1), min(z0 + 1, w - 1)
            dy, dz = y - y0, z - z0
            out[:, i, j] = (
                x[:, y0, z0] * (1 - dy) * (1 - dz)
                + x[:, y1, z0] * dy * (1 - dz)
                + x[:, y0, z1] * (1 - dy) * dz
                + x[:, y1, z1] * dy * dz
            )
    return out


@pytest.mark.parametrize("size", [(8, 10), (7, 5), (4, 4)])
def test_resize_like_aligns_corners(size):
    x = np.random.default_rng(2).normal(size=(2, 4, 5, 3)).astype(np.float32)
    reference = np.zeros((2, *size, 1), np.float32)
    out = ResizeLike(align_corners=True)([x, reference]).numpy()
    np.testing.assert_allclose(out, reference_resize_align_corners(x, *size), rtol=1e-5, atol=1e-5)
    # Corner pixels coincide, which half-pixel sampling does not guarantee.
    np.testing.assert_allclose(out[:, -1, -1], x[:, -1, -1], rtol=1e-6)


@pytest.mark.parametrize("align_corners", [True, False])
def test_backend_neutral_resize_matches_the_tensorflow_kernels(align_corners):
    """Other Keras backends (JAX on the GPU check) resize by interpolation matrices."""
    from cenkeras.layers.resize import _resize_by_interpolation_matrices, resize_bilinear

    x = np.random.default_rng(3).normal(size=(2, 4, 5, 3)).astype(np.float32)
    for size in [(8, 10), (7, 5), (3, 2)]:
        want = resize_bilinear(x, size, align_corners).numpy()
        if align_corners:
            np.testing.assert_allclose(want, reference_resize_align_corners(x, *size), rtol=1e-5, atol=1e-5)
        got = keras.ops.convert_to_numpy(_resize_by_interpolation_matrices(x, size, align_corners))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_resize_like_works_in_a_model_with_unknown_sizes(tmp_path):
    small = keras.Input((None, None, 3))
    big = keras.Input((None, None, 1))
    model = keras.Model([small, big], ResizeLike(name="up")([small, big]))
    x = np.random.default_rng(3).normal(size=(1, 3, 3, 3)).astype(np.float32)
    ref = np.zeros((1, 6, 9, 1), np.float32)
    out = model([x, ref]).numpy()
    assert out.shape == (1, 6, 9, 3)
    model.save(tmp_path / "resize.keras")
    loaded = keras.saving.load_model(tmp_path / "resize.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded([x, ref]).numpy(), out)


def test_modality_parts_follow_numpy_array_split():
    assert modality_parts(10, 3) == [(0, 4), (4, 7), (7, 10)]
    assert modality_parts(64, 2) == [(0, 32), (32, 64)]
    assert modality_parts(5, 1) == [(0, 5)]


def test_slice_l1_penalises_only_its_slice():
    reg = SliceL1(0.5, start=1, stop=3)
    assert float(reg(tf.constant([10.0, -1.0, 2.0, 10.0]))) == pytest.approx(1.5)
    assert SliceL1.from_config(reg.get_config()).get_config() == reg.get_config()
    with pytest.raises(ValueError, match="strength"):
        SliceL1(-1.0)


def test_parallel_normalization_keeps_streams_apart():
    layer = ParallelNormalization(2)
    xs = [tf.fill((4, 2, 2, 3), 1.0) + tf.random.normal((4, 2, 2, 3)), tf.fill((4, 2, 2, 3), 100.0)]
    layer(xs, training=True)
    # Each stream moved only its own running mean.
    assert np.all(np.abs(layer.norms[1].moving_mean.numpy() - 10.0) < 1e-3)
    assert np.all(np.abs(layer.norms[0].moving_mean.numpy()) < 1.0)
