"""A CEN network with some modalities missing: the exchange's absent donors, the ensemble's
renormalisation, the subset forward pass of every builder, and what cannot run without a stream."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import random_images

from cenkeras.layers import ChannelExchange, ConditionalNormalization, ExchangeConfig, ModalityEnsemble
from cenkeras.layers.stacking import StackStreams, UnstackStreams
from cenkeras.models import (
    build_pspnet,
    build_refinenet,
    build_unet_generator,
    tiny_options,
)
from cenkeras.layers.fusion import FusionConfig


def streams(count, seed=0, shape=(2, 4, 4, 6)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(count)]


def exchange_layer(rule="threshold"):
    """A built 3-modality exchange whose norms have different small scales (so channels move)."""
    layer = ChannelExchange(3, rule=rule)
    layer(streams(3), training=False)
    for m, norm in enumerate(layer.norms):
        gamma = np.linspace(0.5, 1.5, 6).astype("float32")
        gamma[m::3] = 0.0  # modality m's channels m, m+3 fall under the threshold
        norm.gamma.assign(gamma)
        norm.beta.assign(np.arange(6, dtype="float32") * (m + 1))
    return layer


def normalized(layer, xs, present):
    return [np.asarray(layer.norms[m](x, training=False)) for m, x in zip(present, xs)]


@pytest.mark.parametrize("stacked", [False, True])
def test_exchange_takes_the_mean_of_the_present_donors_only(stacked):
    layer = exchange_layer()
    xs = streams(2, seed=1)
    present = (0, 2)
    inputs = StackStreams(2)(xs) if stacked else xs
    out = layer(inputs, training=False, present=present)
    out = UnstackStreams(3)(out, present=present) if stacked else out
    own = normalized(layer, xs, present)
    for i, m in enumerate(present):
        below = np.zeros(6, dtype=bool)
        below[m::3] = True
        expected = np.where(below, own[1 - i], own[i])  # the one present other is the donor
        np.testing.assert_allclose(out[i], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("stacked", [False, True])
@pytest.mark.parametrize("rule", ["threshold", "sum", "gated_sum"])
def test_a_stream_without_present_donors_keeps_its_channels(rule, stacked):
    layer = exchange_layer(rule)
    (x,) = streams(1, seed=2)
    out = layer(StackStreams(3)([x], present=(1,)) if stacked else [x], training=False, present=(1,))
    out = out if stacked else out[0]
    np.testing.assert_allclose(out, normalized(layer, [x], (1,))[0], rtol=1e-6, atol=1e-6)


def test_summing_adds_the_present_others_mean_through_their_gates():
    layer = exchange_layer("gated_sum")
    layer.gates.assign(np.arange(18, dtype="float32").reshape(3, 6) / 10)
    xs = streams(2, seed=3)
    out = layer(xs, training=False, present=(0, 2))
    own = normalized(layer, xs, (0, 2))
    gates = 1 / (1 + np.exp(-layer.gates.numpy()))
    np.testing.assert_allclose(out[0], own[0] + gates[0] * own[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out[1], own[1] + gates[2] * own[0], rtol=1e-5, atol=1e-5)


def test_present_indices_are_checked():
    layer = exchange_layer()
    with pytest.raises(ValueError, match="increasing modality indices in \\[0, 3\\)"):
        layer(streams(2), present=(2, 0))
    with pytest.raises(ValueError, match="expected a list of 2 tensors \\(modalities \\[0, 1\\]\\), got 3"):
        layer(streams(3), present=(0, 1))


def test_ensemble_softmax_runs_over_the_present_branches():
    ensemble = ModalityEnsemble(3)
    branches = streams(3, seed=4)
    ensemble(branches)
    ensemble.alpha.assign([1.0, 2.0, 3.0])
    weights = np.exp([1.0, 3.0]) / np.exp([1.0, 3.0]).sum()
    out = ensemble([branches[0], branches[2]], present=(0, 2))
    np.testing.assert_allclose(out, weights[0] * branches[0] + weights[1] * branches[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ensemble([branches[1]], present=(1,)), branches[1], rtol=1e-6)


def test_conditional_norms_without_the_conditioning_stream_are_plain_norms():
    layer = ConditionalNormalization(2)
    xs = streams(2, seed=5)
    layer(xs)
    for modulation in layer.modulation_layers:  # make the modulation non-zero
        modulation.bias.assign(np.full(modulation.bias.shape, 0.3, "float32"))
    (out,) = layer([xs[1]], present=(1,))
    np.testing.assert_allclose(out, layer.norms[1](xs[1]), rtol=1e-6, atol=1e-6)
    assert not np.allclose(layer(xs)[1], out, atol=1e-3)


def spread_gammas(model):
    """Give modality m's norms small scales on channels m, m+M, ...: the exchange moves channels."""
    for layer in model.exchange_layers():
        for m, norm in enumerate(layer.unique_norms):
            gamma = norm.gamma.numpy()
            gamma[m :: layer.num_modalities] = 0.0
            norm.gamma.assign(gamma)
    return model


@pytest.mark.parametrize("stack", [False, True])
def test_a_single_present_modality_runs_its_stream_without_exchange(stack):
    options = {**tiny_options(), "stack_streams": stack}
    model = spread_gammas(build_refinenet(50, 5, ["rgb", "depth"], **options))
    isolated = build_refinenet(50, 5, ["rgb", "depth"], exchange=ExchangeConfig(scope=None), **options)
    isolated.set_weights(model.get_weights())
    x = random_images(["rgb", "depth"])
    reference = isolated(x)
    assert not np.allclose(model(x)["rgb"], reference["rgb"], atol=1e-4)  # the full model exchanges
    for name in ("rgb", "depth"):
        alone = model.subset([name])
        assert alone.modalities == (name,)
        out = alone({name: x[name]})
        assert sorted(out) == sorted([name, "ensemble"])
        np.testing.assert_allclose(out[name], reference[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["ensemble"], out[name], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("stack", [False, True])
def test_the_full_set_computes_what_the_model_computes(stack):
    model = spread_gammas(build_refinenet(50, 5, ["rgb", "depth"], stack_streams=stack, **tiny_options()))
    x = random_images(["rgb", "depth"], seed=1)
    expected, got = model(x), model.subset(["depth", "rgb"])(x)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


def test_three_modalities_with_two_present_renormalise_the_ensemble():
    names = ["rgb", "depth", "normal"]
    model = spread_gammas(build_refinenet(50, 5, names, stack_streams=True, **tiny_options()))
    model.get_layer("ensemble").alpha.assign([0.5, 1.0, 2.0])
    out = model.subset(["rgb", "normal"])(random_images(["rgb", "normal"], seed=2))
    weights = np.exp([0.5, 2.0]) / np.exp([0.5, 2.0]).sum()
    np.testing.assert_allclose(
        out["ensemble"], weights[0] * out["rgb"] + weights[1] * out["normal"], rtol=1e-5, atol=1e-5
    )


def test_pspnet_and_unet_subsets_keep_their_present_outputs():
    pspnet = build_pspnet(50, 5, ["rgb", "depth"], **tiny_options())
    out = pspnet.subset(["depth"])(random_images(["depth"]))
    assert sorted(out) == ["auxiliary.depth", "depth", "ensemble"] and out["depth"].shape == (2, 8, 8, 5)
    # One modality left: the ensemble over the present outputs is that output.
    np.testing.assert_allclose(out["ensemble"], out["depth"], rtol=1e-5, atol=1e-5)
    generator = build_unet_generator(["shade", "texture", "depth"], filters=4, levels=5, stack_streams=True)
    out = generator.subset(["texture"])(random_images(["texture"], size=32))
    assert sorted(out) == ["ensemble", "texture"] and out["texture"].shape == (2, 32, 32, 3)
    np.testing.assert_allclose(out["ensemble"], out["texture"], rtol=1e-5, atol=1e-5)


def test_what_cannot_run_without_a_modality_says_so():
    model = build_refinenet(50, 5, ["rgb", "depth"], **tiny_options())
    with pytest.raises(ValueError, match="has no modality \\['hha'\\]; its modalities are \\['rgb', 'depth'\\]"):
        model.subset(["hha"])
    with pytest.raises(ValueError, match="needs at least one of"):
        model.subset([])
    concat = build_refinenet(50, 5, ["rgb", "depth"], fusion=FusionConfig("concat", stage="late"), **tiny_options())
    with pytest.raises(ValueError, match="fuses its streams with 'concat' layers, which need every modality"):
        concat.subset(["rgb"])
    merged = build_refinenet(50, 5, ["rgb", "depth"], ensemble="concat", **tiny_options())
    with pytest.raises(ValueError, match="concat ensemble merges every branch"):
        merged.subset(["rgb"])
    alone = model.subset(["rgb"])
    with pytest.raises(ValueError, match="takes the modalities \\['rgb'\\]; got also \\['depth'\\]"):
        alone(random_images(["rgb", "depth"]))


def test_subset_models_train_the_shared_weights():
    model = build_refinenet(50, 5, ["rgb", "depth"], **tiny_options())
    alone = model.subset(["depth"])
    assert {id(v) for v in alone.weights} <= {id(v) for v in model.weights}
    x = random_images(["depth"])
    with tf.GradientTape() as tape:
        out = alone(x, training=True)
        loss = keras.ops.mean(out["depth"] ** 2) + keras.ops.mean(out["ensemble"] ** 2)
    site = model.get_layer("layer1.0.bn2")
    rgb_gamma, depth_gamma = (norm.gamma for norm in site.norms)
    conv = model.get_layer("layer1.0.conv2").kernel
    gradients = dict(zip(["rgb", "depth", "conv"], tape.gradient(loss, [rgb_gamma, depth_gamma, conv])))
    assert gradients["rgb"] is None  # the absent stream is not computed
    assert np.abs(gradients["depth"]).sum() > 0 and np.abs(gradients["conv"]).sum() > 0
