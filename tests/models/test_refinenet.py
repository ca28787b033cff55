"""CENRefineNet at tiny size: outputs, variants, saving, errors."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import ChannelExchange, ExchangeConfig, ParallelNormalization
from cenkeras.models import CENRefineNet, build_refinenet, tiny_options
from harness import optimized_nodes, random_images, run_model_saving_test, tiny_network, trainable_count

MODALITIES = ("rgb", "depth")


@pytest.fixture(scope="module")
def model():
    return tiny_network("refinenet")


def test_outputs_are_logits_per_modality_and_ensemble_at_quarter_size(model):
    out = model(random_images(MODALITIES, size=64), training=False)
    assert set(out) == {"rgb", "depth", "ensemble"}
    for value in out.values():
        assert value.shape == (2, 16, 16, 5)
        assert value.dtype == tf.float32
    odd = model(random_images(MODALITIES, size=72, batch=1), training=False)  # any size that is a multiple of 8
    assert odd["ensemble"].shape == (1, 18, 18, 5)


def test_ensemble_is_softmax_alpha_weighted_sum_of_branches(model):
    model.get_layer("ensemble").alpha.assign([0.3, -0.2])
    out = model(random_images(MODALITIES), training=False)
    weights = np.exp([0.3, -0.2]) / np.exp([0.3, -0.2]).sum()
    np.testing.assert_allclose(model.ensemble_weights(), weights, rtol=1e-6)
    expected = weights[0] * out["rgb"].numpy() + weights[1] * out["depth"].numpy()
    np.testing.assert_allclose(out["ensemble"].numpy(), expected, rtol=1e-5, atol=1e-5)


def test_exchange_sites_are_the_bn2_of_every_bottleneck(model):
    names = [layer.name for layer in model.exchange_layers()]
    assert names == ["layer1.0.bn2", "layer2.0.bn2", "layer3.0.bn2", "layer4.0.bn2"]
    stats = model.exchange_statistics()
    assert set(stats) == set(names)
    assert stats["layer2.0.bn2"][0]["channels"] == 16


def test_exchange_changes_the_output_and_scope_none_does_not_exchange():
    data = random_images(MODALITIES)
    on, off = (
        tiny_network("refinenet", exchange=ExchangeConfig(scope="all")),
        tiny_network("refinenet", exchange=ExchangeConfig(scope=None)),
    )
    off.set_weights(on.get_weights())
    for layer in on.exchange_layers():
        layer.norms[0].gamma.assign(np.where(np.arange(layer.channels) % 2 == 0, 1e-3, 1.0))
    for layer in off.exchange_layers():
        layer.norms[0].gamma.assign(np.where(np.arange(layer.channels) % 2 == 0, 1e-3, 1.0))
    diff = np.abs(on(data, training=False)["rgb"].numpy() - off(data, training=False)["rgb"].numpy())
    assert diff.max() > 1e-3
    assert all(s[0]["exchanged"] == 0 for s in off.exchange_statistics().values())


def test_single_modality_network_has_no_exchange_and_alpha_of_one():
    model = tiny_network("refinenet", ("rgb",))
    out = model(random_images(("rgb",)), training=False)
    np.testing.assert_allclose(out["ensemble"].numpy(), out["rgb"].numpy(), rtol=1e-6)
    assert all(not layer.exchanges for layer in model.exchange_layers())


def test_three_modalities_share_convolutions():
    two, three = tiny_network("refinenet"), tiny_network("refinenet", ("rgb", "depth", "hha"))
    out = three(random_images(("rgb", "depth", "hha")), training=False)
    assert set(out) == {"rgb", "depth", "hha", "ensemble"}
    norm_params = sum(
        int(np.prod(v.shape))
        for layer in two.layers
        if isinstance(layer, ParallelNormalization)
        for v in layer.norms[0].trainable_weights
    )
    # One more modality adds one set of norm scales/offsets and one alpha, nothing else.
    assert trainable_count(three) - trainable_count(two) == norm_params + 1


def test_unshared_convs_give_each_stream_its_own_weights():
    shared, unshared = tiny_network("refinenet"), tiny_network("refinenet", share_convs=False)
    conv_params = sum(
        int(np.prod(v.shape))
        for layer in shared.layers
        if isinstance(layer, keras.layers.Conv2D)
        for v in layer.trainable_weights
    )
    assert trainable_count(unshared) == trainable_count(shared) + conv_params
    assert unshared.get_layer("conv1.stream_0") is not unshared.get_layer("conv1.stream_1")


def test_shared_norms_hold_one_norm_per_site():
    shared = tiny_network("refinenet", share_norms=True)
    layer = shared.get_layer("layer1.0.bn2")
    assert layer.norms[0] is layer.norms[1]
    assert trainable_count(tiny_network("refinenet")) - trainable_count(shared) == sum(
        int(np.prod(v.shape))
        for site in shared.layers
        if isinstance(site, ParallelNormalization)
        for v in site.norms[0].trainable_weights
    )


@pytest.mark.parametrize("sparsity_scope", ["part", "all"])
def test_sparsity_goes_to_model_losses_from_exchange_sites_only(sparsity_scope):
    model = tiny_network("refinenet", sparsity=1e-2, exchange=ExchangeConfig(sparsity_scope=sparsity_scope))
    expected = 0.0
    for layer in model.exchange_layers():
        for m, norm in enumerate(layer.norms):
            gamma = norm.gamma.numpy()
            start, stop = layer.parts[m] if sparsity_scope == "part" else (0, len(gamma))
            expected += 1e-2 * np.abs(gamma[start:stop]).sum()
    assert len(model.losses) == 2 * len(model.exchange_layers())
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-6)
    assert tiny_network("refinenet").losses == []


def test_dropout_zero_is_accepted_and_training_is_then_deterministic():
    model = tiny_network("refinenet", dropout=0.0, freeze_norm_statistics=True)
    data = random_images(MODALITIES)
    first = model(data, training=True)["ensemble"].numpy()
    second = model(data, training=True)["ensemble"].numpy()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, model(data, training=False)["ensemble"].numpy(), rtol=1e-5, atol=1e-5)


def test_frozen_statistics_leave_running_statistics_untouched_in_training():
    model = tiny_network("refinenet", freeze_norm_statistics=True, dropout=0.0)
    norm = model.get_layer("bn1").norms[0]
    before = norm.moving_mean.numpy().copy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(random_images(MODALITIES), training=True)["rgb"])
    grads = tape.gradient(loss, [norm.gamma])
    np.testing.assert_array_equal(norm.moving_mean.numpy(), before)
    assert np.abs(grads[0].numpy()).max() > 0  # the scales still learn

    live = tiny_network("refinenet", dropout=0.0)
    live_norm = live.get_layer("bn1").norms[0]
    live(random_images(MODALITIES), training=True)
    assert np.abs(live_norm.moving_mean.numpy()).max() > 0


def test_keras_round_trip_in_safe_mode(tmp_path):
    model = tiny_network("refinenet", sparsity=2e-4, exchange=ExchangeConfig(scope="part", threshold=3e-2), dropout=0.0)
    for layer in model.exchange_layers():
        layer.norms[1].gamma.assign(np.linspace(-0.1, 0.1, layer.channels))
    loaded = run_model_saving_test(model, random_images(MODALITIES), tmp_path / "refinenet.keras")
    assert isinstance(loaded, CENRefineNet)


def test_runs_under_mixed_bfloat16_with_float32_outputs():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = tiny_network("refinenet")
        out = model(random_images(MODALITIES), training=True)
    finally:
        keras.config.set_dtype_policy("float32")
    assert all(v.dtype == tf.float32 for v in out.values())
    assert model.get_layer("layer1.0.conv2").compute_dtype == "bfloat16"
    assert model.get_layer("layer1.0.bn2").norms[0].gamma.dtype == "float32"


# --- Errors a user can cause ---------------------------------------------------------------


def test_missing_modality_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        model({"rgb": random_images(MODALITIES)["rgb"]})


def test_unexpected_modality_is_a_clear_error(model):
    data = {**random_images(MODALITIES), "thermal": random_images(MODALITIES)["rgb"]}
    with pytest.raises(ValueError, match=r"unexpected \['thermal'\]"):
        model(data)


def test_wrong_number_of_modalities_is_a_clear_error(model):
    with pytest.raises(ValueError, match="takes 2 modalities"):
        model([random_images(MODALITIES)["rgb"]] * 3)


def test_list_of_modalities_is_taken_in_order(model):
    data = random_images(MODALITIES)
    as_list = model([data["rgb"], data["depth"]], training=False)["ensemble"].numpy()
    np.testing.assert_array_equal(as_list, model(data, training=False)["ensemble"].numpy())


@pytest.mark.parametrize("shape", [(2, 64, 64, 1), (2, 64, 64, 4), (64, 64, 3)])
def test_wrong_image_shape_is_a_clear_error(model, shape):
    data = {**random_images(MODALITIES), "depth": np.zeros(shape, np.float32)}
    with pytest.raises(ValueError, match="input 'depth'"):
        model(data)


def test_predict_checks_inputs_too(model):
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        model.predict({"rgb": random_images(MODALITIES)["rgb"]}, verbose=0)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"exchange": ExchangeConfig(threshold=math.nan)}, "threshold"),
        ({"exchange": ExchangeConfig(threshold=math.inf)}, "threshold"),
        ({"exchange": ExchangeConfig(scope="half")}, "exchange.scope"),
        ({"exchange": "part"}, "ExchangeConfig"),
        ({"exchange": None}, r"does not turn the exchange off: pass ExchangeConfig\(scope=None\)"),
        ({"dropout": 1.0}, "dropout"),
        ({"stage_blocks": (1, 1)}, "stage_blocks"),
    ],
)
def test_bad_options_are_clear_errors(options, match):
    with pytest.raises(ValueError, match=match):
        tiny_network("refinenet", **options)


@pytest.mark.parametrize(
    "modalities,match",
    [
        ([], "at least one"),
        ("rgb", "list of names"),
        (["rgb", "rgb"], "unique"),
        (["rgb", "ensemble"], "ensemble"),
        (["rgb", "depth map"], "identifiers"),
    ],
)
def test_bad_modality_names_are_clear_errors(modalities, match):
    with pytest.raises(ValueError, match=match):
        build_refinenet(50, 5, modalities, **tiny_options())


def test_unknown_depth_is_a_clear_error():
    with pytest.raises(ValueError, match="depth 34"):
        build_refinenet(34, 5, ["rgb"])


def test_exchange_layers_are_channel_exchange_instances(model):
    assert all(isinstance(layer, ChannelExchange) for layer in model.exchange_layers())


@pytest.mark.parametrize("stack", [False, True])
def test_chained_residual_pooling_adds_each_branch_as_it_comes(stack):
    """Grappler merges a chain of adds into one AddN at its end, which keeps the four pooled
    branches of every CRP alive together (the peak of a RefineNet-101 inference); the graph that
    actually runs, after Grappler, keeps the adds apart, and computes what the model computes."""
    network = tiny_network("refinenet", stack_streams=stack)
    x = {name: tf.constant(value) for name, value in random_images(MODALITIES, batch=1).items()}
    forward = tf.function(lambda inputs: network(inputs, training=False)["ensemble"])
    served, nodes = optimized_nodes(forward, x)
    assert any("Conv2D" in node.op for node in nodes)
    merged = [len(node.input) for node in nodes if node.op == "AddN"]
    assert max(merged, default=2) <= 2, merged  # a two-term AddN is one add (a bottleneck's residual)
    np.testing.assert_allclose(served, network(x, training=False)["ensemble"], rtol=1e-5, atol=1e-5)
