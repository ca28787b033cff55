"""Section 4.1's further ablations as switches: exchange placement, summing instead of exchanging
(plain and gated), conditional BN, a concat-fusion block instead of the ensemble. Each against a
reference computation, and each through one training step of the segmentation trainer."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import random_images, run_model_saving_test

from cenkeras.layers import (
    ChannelExchange,
    ConcatEnsemble,
    ConditionalNormalization,
    ExchangeConfig,
    FusionConfig,
    ParallelNormalization,
    StackStreams,
    UnstackStreams,
)
from cenkeras.models import build_pspnet, build_refinenet, build_unet_generator, tiny_options
from cenkeras.tasks.segmentation import SegmentationTrainer

MODALITIES = ("rgb", "depth")


def streams(count=2, seed=0, shape=(2, 5, 5, 6)):
    rng = np.random.default_rng(seed)
    return [rng.normal(m, 1.0 + m, size=shape).astype("float32") for m in range(count)]


@pytest.mark.parametrize("num_modalities", [2, 3])
@pytest.mark.parametrize("rule", ["sum", "gated_sum"])
def test_summing_rules_add_the_others_mean_to_every_channel(rule, num_modalities):
    x = streams(num_modalities)
    layer = ChannelExchange(num_modalities, rule=rule, name="site")
    plain = ParallelNormalization(num_modalities, name="plain")
    outputs = layer(x, training=True)
    plain(x)
    plain.set_weights([w for w in layer.get_weights() if w.shape != (num_modalities, 6)])
    normalized = [np.asarray(y) for y in plain(x, training=True)]
    gates = np.full((num_modalities, 6), 1.0)
    if rule == "gated_sum":
        layer.gates.assign(np.linspace(-2, 2, num_modalities * 6).reshape(num_modalities, 6))
        outputs = layer(x, training=True)
        gates = 1 / (1 + np.exp(-np.linspace(-2, 2, num_modalities * 6).reshape(num_modalities, 6)))
    for m in range(num_modalities):
        others = np.mean([normalized[k] for k in range(num_modalities) if k != m], axis=0)
        np.testing.assert_allclose(outputs[m], normalized[m] + gates[m] * others, rtol=1e-5, atol=1e-5)
    stacked = ChannelExchange(num_modalities, rule=rule, name="stacked")
    stacked(StackStreams(num_modalities)(x))
    stacked.set_weights(layer.get_weights())
    for a, b in zip(outputs, UnstackStreams(num_modalities)(stacked(StackStreams(num_modalities)(x), training=True))):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    assert layer.exchange_statistics()[0]["exchanged"] == 6


def test_the_gate_learns():
    layer = ChannelExchange(2, rule="gated_sum")
    x = streams()
    with tf.GradientTape() as tape:
        loss = sum(tf.reduce_sum(tf.square(y)) for y in layer(x, training=True))
    gradient = tape.gradient(loss, layer.gates)
    assert gradient is not None and np.abs(gradient.numpy()).sum() > 0


def test_exchange_only_at_the_downsampling_blocks():
    options = dict(tiny_options(), stage_blocks=(2, 2, 2, 2), sparsity=1e-3)
    every = build_refinenet(50, 5, MODALITIES, **options)
    first = build_refinenet(50, 5, MODALITIES, exchange=ExchangeConfig(placement="downsampling"), **options)
    assert len(every.exchange_layers()) == 8
    assert [layer.name for layer in first.exchange_layers()] == [f"layer{i}.0.bn2" for i in range(1, 5)]
    plain = first.get_layer("layer3.1.bn2")
    assert isinstance(plain, ParallelNormalization) and not isinstance(plain, ChannelExchange)
    assert len(first.losses) < len(every.losses)  # no L1 where nothing exchanges
    with pytest.raises(ValueError, match="placement"):
        ExchangeConfig(placement="middle").validate()


def test_conditional_norm_starts_as_the_plain_norms_and_then_follows_its_formula():
    x = streams(3)
    layer = ConditionalNormalization(3, reduction=2, name="cbn")
    plain = ParallelNormalization(3, name="plain")
    start = layer(x, training=True)
    plain(x)
    plain.set_weights(layer.get_weights()[: len(plain.get_weights())])
    reference = plain(x, training=True)
    for a, b in zip(start, reference):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    rng = np.random.default_rng(1)
    for dense in layer.hidden_layers + layer.modulation_layers:
        dense.kernel.assign(rng.normal(scale=0.3, size=dense.kernel.shape))
        dense.bias.assign(rng.normal(scale=0.1, size=dense.bias.shape))
    out = layer(x, training=True)
    base = [np.asarray(y) for y in plain(x, training=True)]
    condition = base[0].mean(axis=(1, 2))
    np.testing.assert_allclose(out[0], base[0], rtol=1e-5, atol=1e-6)  # the conditioning stream is unchanged
    for m in (1, 2):
        hidden_layer, modulation_layer = layer.hidden_layers[m - 1], layer.modulation_layers[m - 1]
        hidden = np.maximum(condition @ hidden_layer.kernel.numpy() + hidden_layer.bias.numpy(), 0)
        change = hidden @ modulation_layer.kernel.numpy() + modulation_layer.bias.numpy()
        scale, shift = change[:, :6], change[:, 6:]
        np.testing.assert_allclose(
            out[m], base[m] * (1 + scale[:, None, None]) + shift[:, None, None], rtol=1e-4, atol=1e-5
        )
    stacked = layer(StackStreams(3)(x), training=True)
    for a, b in zip(out, UnstackStreams(3)(stacked)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("share_convs", [True, False])
def test_cbn_models_replace_every_exchange_with_conditional_norms(share_convs):
    model = build_refinenet(50, 5, MODALITIES, fusion=FusionConfig("cbn"), share_convs=share_convs, **tiny_options())
    assert not model.exchange_layers()
    conditional = [layer for layer in model.layers if isinstance(layer, ConditionalNormalization)]
    assert [layer.name for layer in conditional] == [f"layer{i}.0.bn2" for i in range(1, 5)]
    assert model.fusion_parameter_count() == sum(layer.conditioning_parameter_count() for layer in conditional) > 0
    assert model(random_images(MODALITIES, size=32))["ensemble"].shape == (2, 8, 8, 5)


def test_gated_sum_gates_count_as_fusion_parameters():
    model = build_refinenet(50, 5, MODALITIES, exchange=ExchangeConfig(rule="gated_sum"), **tiny_options())
    sites = model.exchange_layers()
    assert sites and model.fusion_parameter_count() == sum(2 * layer.channels for layer in sites)
    plain_sum = build_refinenet(50, 5, MODALITIES, exchange=ExchangeConfig(rule="sum"), **tiny_options())
    assert plain_sum.fusion_parameter_count() == 0


def test_concat_ensemble_starts_as_the_average_and_counts_as_fusion():
    branches = [np.random.default_rng(m).normal(size=(1, 4, 4, 5)).astype("float32") for m in range(2)]
    out = ConcatEnsemble(2)(branches)
    np.testing.assert_allclose(out, (branches[0] + branches[1]) / 2, rtol=1e-5, atol=1e-6)
    model = build_refinenet(50, 5, MODALITIES, ensemble="concat", **tiny_options())
    assert model.ensemble_weights() is None
    assert model.fusion_parameter_count() == 2 * 5 * 5 + 5
    with pytest.raises(ValueError, match="ensemble must be one of"):
        build_refinenet(50, 5, MODALITIES, ensemble="vote", **tiny_options())


VARIANTS = {
    "downsampling": {"exchange": ExchangeConfig(placement="downsampling")},
    "sum": {"exchange": ExchangeConfig(rule="sum")},
    "gated_sum": {"exchange": ExchangeConfig(rule="gated_sum")},
    "cbn": {"fusion": FusionConfig("cbn")},
    "cbn_unshared": {"fusion": FusionConfig("cbn"), "share_convs": False},
    "concat_ensemble": {"ensemble": "concat"},
}
# Path fragments of the parameters each variant adds.
VARIANT_PARAMETERS = {
    "downsampling": (),
    "sum": (),
    "gated_sum": ("/gates",),
    "cbn": ("/modulation_",),
    "cbn_unshared": ("/modulation_",),
    "concat_ensemble": ("ensemble/merge",),
}
BUILDERS = {
    "refinenet": lambda **o: build_refinenet(50, 5, MODALITIES, **tiny_options(), **o),
    "pspnet": lambda **o: build_pspnet(50, 5, MODALITIES, **tiny_options(), **o),
}


# The encoder is the same code in both segmenters: PSPNet runs the variants that reach its own head.
CASES = [("refinenet", variant) for variant in sorted(VARIANTS)] + [("pspnet", "cbn"), ("pspnet", "concat_ensemble")]


@pytest.mark.slow
@pytest.mark.parametrize("architecture, variant", CASES)
def test_one_training_step_of_each_variant(architecture, variant, tmp_path):
    keras.utils.set_random_seed(0)
    model = BUILDERS[architecture](
        sparsity=1e-3, dropout=0.0, stack_streams=variant != "cbn_unshared", **VARIANTS[variant]
    )
    trainer = SegmentationTrainer(model, keras.optimizers.SGD(1e-2), keras.optimizers.SGD(1e-2), num_classes=5)
    trainer.compile(optimizer=trainer.encoder_optimizer)
    before = [v.numpy().copy() for v in model.trainable_variables]
    labels = np.random.default_rng(1).integers(0, 5, size=(2, 32, 32)).astype("int32")
    history = trainer.fit(
        tf.data.Dataset.from_tensors((random_images(MODALITIES, size=32), labels)), epochs=1, verbose=0, shuffle=False
    )
    assert np.isfinite(history.history["loss"][0])
    unchanged = {v.path for a, v in zip(before, model.trainable_variables) if np.array_equal(a, v.numpy())}
    assert len(unchanged) < 0.1 * len(before), sorted(unchanged)
    # The variant's own parameters learn (CBN's hidden layers wait a step: their gradient passes
    # through a modulation that starts at 0).
    own = [v.path for v in model.trainable_variables if any(key in v.path for key in VARIANT_PARAMETERS[variant])]
    assert bool(own) == bool(VARIANT_PARAMETERS[variant]) and not unchanged.intersection(own)
    run_model_saving_test(model, random_images(MODALITIES, seed=2, size=32), tmp_path / "variant.keras")


@pytest.mark.parametrize(
    "options, own_parameters",
    [
        ({"fusion": FusionConfig("cbn")}, "/modulation_"),
        ({"ensemble": "concat"}, "ensemble/merge"),
        ({"exchange": ExchangeConfig(rule="gated_sum")}, "/gates"),
        ({"exchange": ExchangeConfig(rule="sum")}, None),
    ],
    ids=["cbn", "concat_ensemble", "gated_sum", "sum"],
)
def test_the_generator_takes_the_same_switches(options, own_parameters):
    """Each switch builds its variant in the generator: its own parameters are there, and its
    outputs differ from plain CEN's with the same weights wherever the two share them."""
    images = random_images(["shade", "texture"], seed=4, size=32)
    keras.utils.set_random_seed(0)
    plain = build_unet_generator(["shade", "texture"], filters=4, levels=5)
    keras.utils.set_random_seed(0)
    variant = build_unet_generator(["shade", "texture"], filters=4, levels=5, **options)
    paths = [w.path for w in variant.weights]
    if own_parameters:
        assert any(own_parameters in path for path in paths) and not any(
            own_parameters in w.path for w in plain.weights
        )
    shared = {w.path: w for w in plain.weights}
    rng = np.random.default_rng(5)
    for weight in variant.weights:  # the same weights where the networks share them
        if weight.path in shared and weight.shape == shared[weight.path].shape:
            weight.assign(shared[weight.path])
        elif own_parameters and own_parameters in weight.path:  # off their identity start
            weight.assign(rng.normal(0, 0.5, weight.shape).astype("float32"))
    for model in (plain, variant):  # half of each norm's channels under the threshold
        for norm in [n for layer in model.exchange_layers() for n in layer.norms]:
            norm.gamma.assign(np.where(np.arange(norm.gamma.shape[0]) % 2, 1.0, 1e-3).astype("float32"))
    a, b = plain(images)["ensemble"].numpy(), variant(images)["ensemble"].numpy()
    assert a.shape == b.shape == (2, 32, 32, 3)
    assert np.abs(a - b).max() > 1e-3 * np.abs(a).max()  # float32 rounding is ~1e-7 of it


@pytest.mark.parametrize(
    "options, culprit",
    [
        ({"exchange": ExchangeConfig(rule="gated_sum")}, "gates"),
        ({"fusion": FusionConfig("cbn")}, "condition_1"),
        ({"ensemble": "concat"}, "merge"),
    ],
)
def test_torch_export_refuses_what_the_official_models_cannot_hold(options, culprit):
    from cenkeras.interop import export_torch_state_dict

    model = build_refinenet(50, 5, MODALITIES, **tiny_options(), **options)
    with pytest.raises(TypeError, match=culprit):
        export_torch_state_dict(model)


def test_pspnet_exports_to_a_torch_state_dict_and_back():
    from cenkeras.interop import export_torch_state_dict, load_torch_state_dict

    source = build_pspnet(50, 5, MODALITIES, **tiny_options())
    state = export_torch_state_dict(source)
    assert "ppm.features.3.0.weight" in state and "aux.1.bn_1.running_var" in state
    target = build_pspnet(50, 5, MODALITIES, **tiny_options())
    report = load_torch_state_dict(target, state)
    assert not report.missing and not report.unexpected
    x = random_images(MODALITIES, seed=4, size=32)
    for name, value in source(x).items():
        np.testing.assert_allclose(target(x)[name], value, rtol=1e-5, atol=1e-5)
