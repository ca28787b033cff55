"""Parity with the official PyTorch implementation (fixtures in ../shared/fixtures/cen_reference).

Weights are rebuilt with the fixtures' NumPy recipe, loaded through
`load_torch_state_dict`, and the outputs, features, losses and gradients
compared as max-abs error over the reference's max-abs. Tolerances are the
fixture README's: 1e-4 for outputs, features and losses; gradients 1e-4
(decoder, classifier, alpha) and 5e-3 (encoder) with frozen BN, 1e-3 for
decoder, classifier and alpha with BN batch statistics.
"""

import numpy as np
import pytest
import tensorflow as tf

import keras
from cenkeras.interop import load_torch_state_dict, normalize_torch_key, torch_variable_map
from cenkeras.layers import ExchangeConfig
from cenkeras.interop.torch_state_dict import kernel_to_torch
from cenkeras.models import build_refinenet, build_unet_generator
from harness import fixture_weights_module, load_reference, nhwc, relative_error

pytestmark = pytest.mark.slow
SEGMENTER = ("rgb", "depth")
OUTPUT_KEYS = {"rgb": "0", "depth": "1", "ensemble": "ens"}
ENCODER_PREFIXES = ("conv1.", "bn1.", "layer")
LAMBDA = 2e-4


@pytest.fixture(scope="module")
def segmenter_state():
    weights = fixture_weights_module()
    data, meta = load_reference("fixture_compact_refinenet50_M2.npz")
    return weights.refinenet_gamma_edits(weights.make_state_dict(meta["keys_shapes"], seed=2020))


# Stacked streams (one batch of M x B through the shared layers) must meet the same fixtures.
STACKING = pytest.mark.parametrize("stack", [False, True], ids=["streams", "stacked"])


@STACKING
def test_segmenter_eval_outputs_and_features(segmenter_state, stack):
    data, _ = load_reference("fixture_compact_refinenet50_M2.npz")
    model = build_refinenet(50, 40, SEGMENTER, stack_streams=stack)
    report = load_torch_state_dict(model, segmenter_state)
    assert not report.missing and not report.unexpected
    x = {"rgb": nhwc(data["input_0"]), "depth": nhwc(data["input_1"])}

    outputs = model(x, training=False)
    pyramid = keras.Model(model.inputs, model.pyramid_outputs)(x, training=False)
    for name, suffix in OUTPUT_KEYS.items():
        assert relative_error(outputs[name], nhwc(data[f"output_{suffix}"])) < 1e-4, name
    for level in range(1, 5):
        for m, name in enumerate(SEGMENTER):
            got = pyramid[f"layer{level}"][name]
            assert relative_error(got, nhwc(data[f"l{level}_{m}"])) < 1e-4, (level, name)
    np.testing.assert_allclose(model.ensemble_weights(), data["alpha_soft"], rtol=1e-5)


@pytest.mark.parametrize("exchange", [None, "part"])
def test_segmenter_misses_the_fixture_without_the_official_exchange(segmenter_state, exchange):
    """The fixture is sensitive to the exchange: turning it off, or limiting it to each
    modality's part, must break parity (so the parity test can catch those mistakes)."""
    data, _ = load_reference("fixture_compact_refinenet50_M2.npz")
    model = build_refinenet(50, 40, SEGMENTER, exchange=ExchangeConfig(scope=exchange))
    load_torch_state_dict(model, segmenter_state)
    out = model({"rgb": nhwc(data["input_0"]), "depth": nhwc(data["input_1"])}, training=False)
    assert relative_error(out["rgb"], nhwc(data["output_0"])) > 1e-4


def cross_entropy(logits, target):
    """Official loss: bilinear (align_corners=False) upsampling to the label size, NLL over
    pixels whose label is not 255, averaged."""
    up = tf.image.resize(logits, target.shape[1:3], method="bilinear")
    valid = target != 255
    log_probs = tf.nn.log_softmax(up, axis=-1)
    nll = -tf.gather(log_probs, np.where(valid, target, 0)[..., None], batch_dims=3)[..., 0]
    return tf.reduce_sum(tf.where(valid, nll, 0.0)) / float(valid.sum())


@STACKING
@pytest.mark.parametrize("mode", ["frozen", "batchstats"])
def test_segmenter_training_outputs_losses_and_gradients(segmenter_state, mode, stack):
    data, _ = load_reference("fixture_compact_refinenet50_M2_train.npz")
    # The official code adds lambda * L1 once per output: 3 outputs.
    model = build_refinenet(
        50,
        40,
        SEGMENTER,
        dropout=0.0,
        sparsity=3 * LAMBDA,
        freeze_norm_statistics=mode == "frozen",
        stack_streams=stack,
    )
    load_torch_state_dict(model, segmenter_state)
    variables = torch_variable_map(model)
    grad_keys = [k.split(".", 1)[1] for k in data.files if k.startswith(f"{mode}_grad.")]
    grad_vars = [variables[normalize_torch_key(k)][0][0] for k in grad_keys]
    x = {"rgb": nhwc(data["input_0"]), "depth": nhwc(data["input_1"])}
    target = data["target"]

    with tf.GradientTape() as tape:
        out = model(x, training=True)
        ces = [cross_entropy(out[name], target) for name in OUTPUT_KEYS]
        penalty = tf.add_n(model.losses)
        loss = tf.add_n(ces) + penalty
    grads = tape.gradient(loss, grad_vars)

    for name, suffix in OUTPUT_KEYS.items():
        assert relative_error(out[name], nhwc(data[f"{mode}_output_{suffix}"])) < 1e-4, name
    assert relative_error([c.numpy() for c in ces], data[f"{mode}_ce"]) < 1e-4
    assert relative_error(penalty.numpy() / (3 * LAMBDA), data[f"{mode}_l1"]) < 1e-4
    assert relative_error(loss.numpy(), data[f"{mode}_loss"]) < 1e-4

    for key, grad in zip(grad_keys, grads):
        grad = grad.numpy()
        if grad.ndim == 4:
            grad = kernel_to_torch(grad)
        encoder = key.startswith(ENCODER_PREFIXES)
        if mode == "batchstats" and encoder:
            continue  # not reproducible in float32 (ReLU and max-pool flips): see the fixture README
        tolerance = {"frozen": 5e-3 if encoder else 1e-4, "batchstats": 1e-3}[mode]
        assert relative_error(grad, data[f"{mode}_grad.{key}"]) < tolerance, key


@STACKING
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_generator_outputs(mode, stack):
    weights = fixture_weights_module()
    data, meta = load_reference("fixture_compact_generator_M2.npz")
    state = weights.generator_gamma_edits(weights.make_state_dict(meta["keys_shapes"], seed=2021))
    model = build_unet_generator(["shade", "texture"], dropout=0.0, stack_streams=stack)
    report = load_torch_state_dict(model, state)
    assert len(report.skipped_unused) == 30  # conv1, conv8, deconv8 norms x 2 modalities x 5 keys
    x = {"shade": nhwc(data["input_0"]), "texture": nhwc(data["input_1"])}
    out = model(x, training=mode == "train")
    prefix = "output_" if mode == "eval" else "trainmode_nodropout_output_"
    for name, suffix in {"shade": "0", "texture": "1", "ensemble": "ens"}.items():
        assert relative_error(out[name], nhwc(data[prefix + suffix])) < 1e-4, name
    np.testing.assert_allclose(model.ensemble_weights(), data["alpha_soft"], rtol=1e-5)
