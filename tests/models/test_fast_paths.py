"""The speed options change how the networks run, never what they compute.

Stacked streams and affine running-statistics norms must give the float32
results of the plain per-stream path; mixed_bfloat16 must stay within a
stated tolerance of float32.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import random_images, run_model_saving_test

from cenkeras.layers import ChannelExchange, ParallelNormalization, StackStreams, UnstackStreams
from cenkeras.models import build_pspnet, build_refinenet, build_unet_generator, tiny_options
from cenkeras.training.precision import keras_policy


# Both segmenters, tiny: builder(depth, classes, modalities, **options) and its tiny options.
SEGMENTERS = {"refinenet": build_refinenet, "pspnet": build_pspnet}


def randomize_norms(model, seed=0):
    """Gammas around the threshold (some channels exchange) and non-trivial running statistics."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if variable.path.endswith("gamma"):
            variable.assign(rng.uniform(-0.05, 0.3, variable.shape))
        elif variable.path.endswith("moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, variable.shape))
        elif variable.path.endswith("moving_mean"):
            variable.assign(rng.normal(size=variable.shape))


def exchanged_channels(model):
    return sum(s["exchanged"] for stats in model.exchange_statistics().values() for s in stats)


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


@pytest.mark.parametrize("modalities", [("rgb", "depth"), ("rgb", "depth", "hha")])
@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("architecture", sorted(SEGMENTERS))
def test_stacked_segmenter_equals_per_stream(architecture, modalities, frozen):
    build = SEGMENTERS[architecture]
    options = dict(tiny_options(), dropout=0.0, freeze_norm_statistics=frozen, sparsity=1e-3)
    plain = build(50, 5, modalities, **options)
    stacked = build(50, 5, modalities, stack_streams=True, **options)
    randomize_norms(plain)
    stacked.set_weights(plain.get_weights())
    assert exchanged_channels(plain) > 0
    assert stacked.get_layer("stack_streams").output.shape[-1] == 3
    x = random_images(modalities, seed=1)
    for training in (False, True):
        assert max_difference(plain(x, training=training), stacked(x, training=training)) < 1e-5
    np.testing.assert_allclose(sum(stacked.losses), sum(plain.losses), rtol=1e-6)


def test_stacked_training_updates_the_same_statistics_and_gradients():
    keras.utils.set_random_seed(0)  # unseeded draws made this comparison fail now and then
    options = dict(tiny_options(), dropout=0.0)
    plain = build_refinenet(50, 5, ("rgb", "depth"), **options)
    stacked = build_refinenet(50, 5, ("rgb", "depth"), stack_streams=True, **options)
    randomize_norms(plain)
    stacked.set_weights(plain.get_weights())
    x = random_images(("rgb", "depth"), seed=1)
    grads = []
    for model in (plain, stacked):
        with tf.GradientTape() as tape:
            loss = sum(keras.ops.mean(keras.ops.square(v)) for v in model(x, training=True).values())
        grads.append(tape.gradient(loss, model.trainable_variables))
    for g_plain, g_stacked in zip(*grads):
        np.testing.assert_allclose(g_stacked, g_plain, rtol=1e-4, atol=1e-6)
    for v_plain, v_stacked in zip(plain.non_trainable_variables, stacked.non_trainable_variables):
        np.testing.assert_allclose(v_stacked, v_plain, rtol=1e-5, atol=1e-6)


def test_stacked_generator_equals_per_stream():
    plain = build_unet_generator(["shade", "texture"], filters=8, levels=5, dropout=0.0)
    stacked = build_unet_generator(["shade", "texture"], filters=8, levels=5, dropout=0.0, stack_streams=True)
    randomize_norms(plain)
    stacked.set_weights(plain.get_weights())
    x = random_images(("shade", "texture"), seed=1)
    for training in (False, True):
        assert max_difference(plain(x, training=training), stacked(x, training=training)) < 1e-5


def test_stacking_needs_shared_convolutions():
    with pytest.raises(ValueError, match="stack_streams needs shared convolutions"):
        build_refinenet(50, 5, ("rgb", "depth"), share_convs=False, stack_streams=True, **tiny_options())


def test_stacked_model_survives_a_keras_round_trip(tmp_path):
    model = build_refinenet(50, 5, ("rgb", "depth"), stack_streams=True, **tiny_options())
    randomize_norms(model)
    loaded = run_model_saving_test(model, random_images(("rgb", "depth"), seed=1), tmp_path / "stacked.keras")
    assert loaded.stack_streams


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_affine_inference_equals_the_keras_norm(norm):
    rng = np.random.default_rng(3)
    streams = [rng.normal(2.0, 3.0, (2, 6, 6, 8)).astype("float32") for _ in range(3)]
    layers = [ChannelExchange(3, norm=norm, affine_inference=flag, name=f"x{flag}") for flag in (False, True)]
    for layer in layers:
        layer(streams)
    randomize_norms(layers[0])
    layers[1].set_weights(layers[0].get_weights())
    for training in (False, True):
        reference, fast = (layer(streams, training=training) for layer in layers)
        for a, b in zip(reference, fast):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm", ["batch", "instance"])
@pytest.mark.parametrize("share_norms", [False, True])
def test_norm_layers_accept_stacked_streams(norm, share_norms):
    rng = np.random.default_rng(4)
    streams = [rng.normal(m, 1.0 + m, size=(2, 5, 5, 6)).astype("float32") for m in range(3)]
    layers = [ParallelNormalization(3, norm=norm, share_norms=share_norms, name=f"n{i}") for i in range(2)]
    per_stream = layers[0](streams, training=True)
    stacked = layers[1](StackStreams(3)(streams), training=True)
    for a, b in zip(per_stream, UnstackStreams(3)(stacked)):
        np.testing.assert_allclose(b, a, atol=1e-5)
    # The running statistics moved the same way.
    for a, b in zip(layers[0].weights, layers[1].weights):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    assert not np.allclose(layers[1].norms[-1].moving_mean, 0.0)


# bfloat16 keeps 8 bits of mantissa (relative step 2**-8 = 0.4%); through ~60 layers the
# rounding adds up. Stated tolerance: logits within 5% of their float32 range, and the
# class decision (argmax) the same on >= 95% of the pixels; generated images within 0.05
# (images span [-1, 1]).
BF16_RELATIVE_TOLERANCE = 0.05
BF16_ARGMAX_AGREEMENT = 0.95


def build_with_policy(policy, builder):
    with keras_policy(policy):
        return builder()


@pytest.mark.parametrize("stack", [False, True])
@pytest.mark.parametrize("architecture", sorted(SEGMENTERS))
def test_bfloat16_segmenter_stays_close_to_float32(architecture, stack):
    build = SEGMENTERS[architecture]
    options = dict(tiny_options(), dropout=0.0, freeze_norm_statistics=True, stack_streams=stack)
    reference = build_with_policy("float32", lambda: build(50, 5, ("rgb", "depth"), **options))
    fast = build_with_policy("mixed_bfloat16", lambda: build(50, 5, ("rgb", "depth"), **options))
    assert fast.get_layer("layer1.0.conv2").compute_dtype == "bfloat16"
    fast.set_weights(reference.get_weights())
    x = random_images(("rgb", "depth"), seed=5)
    for training in (False, True):
        want = reference(x, training=training)
        got = fast(x, training=training)
        for name in want:
            want_np, got_np = np.asarray(want[name]), np.asarray(got[name])
            scale = np.max(np.abs(want_np))
            assert np.max(np.abs(got_np - want_np)) < BF16_RELATIVE_TOLERANCE * scale, name
            agreement = np.mean(np.argmax(got_np, -1) == np.argmax(want_np, -1))
            assert agreement >= BF16_ARGMAX_AGREEMENT, (name, agreement)


def test_bfloat16_generator_stays_close_to_float32():
    options = dict(filters=8, levels=5, dropout=0.0, stack_streams=True)
    reference = build_with_policy("float32", lambda: build_unet_generator(["shade", "texture"], **options))
    fast = build_with_policy("mixed_bfloat16", lambda: build_unet_generator(["shade", "texture"], **options))
    fast.set_weights(reference.get_weights())
    x = random_images(("shade", "texture"), seed=6)
    for training in (False, True):
        assert max_difference(reference(x, training=training), fast(x, training=training)) < 0.05
