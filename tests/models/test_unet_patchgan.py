"""CENUNetGenerator and PatchGANDiscriminator at tiny width: structure, variants, saving, errors."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import ChannelExchange, ExchangeConfig, ParallelNormalization
from cenkeras.models import (
    CENUNetGenerator,
    PatchGANDiscriminator,
    build_patchgan_discriminator,
)
from harness import random_images, run_model_saving_test, tiny_network, trainable_count

DOMAINS = ("shade", "texture")


@pytest.fixture(scope="module")
def generator():
    return tiny_network("unet")


def test_generator_outputs_images_in_tanh_range(generator):
    out = generator(random_images(DOMAINS, size=256, batch=1, uniform=True), training=True)
    assert set(out) == {"shade", "texture", "ensemble"}
    for value in out.values():
        assert value.shape == (1, 256, 256, 3)
        assert value.dtype == tf.float32
        assert np.abs(value.numpy()).max() <= 1.0


def test_exchange_in_encoder_blocks_2_to_7_only(generator):
    names = [layer.name for layer in generator.exchange_layers()]
    assert names == [f"conv{b}.insnorm_conv" for b in range(2, 8)]
    for layer in generator.exchange_layers():
        assert layer.norm == "instance" and layer.threshold == 1e-2
    decoder_norms = [
        layer
        for layer in generator.layers
        if isinstance(layer, ParallelNormalization) and not isinstance(layer, ChannelExchange)
    ]
    assert [layer.name for layer in decoder_norms] == [f"deconv{b}.insnorm_deconv" for b in range(1, 8)]


def test_shared_decoder_norms_save_one_set_per_block():
    private, shared = tiny_network("unet"), tiny_network("unet", decoder_norms="shared")
    decoder_affine = sum(2 * w for w in (32, 32, 32, 32, 16, 8, 4))  # filters=4: widths x (gamma, beta)
    assert trainable_count(private) - trainable_count(shared) == decoder_affine
    assert shared.get_layer("deconv1.insnorm_deconv").norms[0] is shared.get_layer("deconv1.insnorm_deconv").norms[1]


def test_skip_connections_carry_leaky_relu_of_the_encoder(generator):
    """The official in-place LeakyReLU makes each skip LeakyReLU(encoder block output)."""
    skip = generator.get_layer("skip7")
    # skip7 joins decoder block 7 with the first encoder block's activation.
    source = skip._inbound_nodes[0].input_tensors[1]
    assert source._keras_history.operation.name == "leaky_relu"


def test_sparsity_covers_encoder_norms_only():
    model = tiny_network("unet", sparsity=1e-3)
    assert len(model.losses) == 2 * 6
    expected = sum(
        1e-3 * np.abs(norm.gamma.numpy()[slice(*layer.parts[m])]).sum()
        for layer in model.exchange_layers()
        for m, norm in enumerate(layer.norms)
    )
    np.testing.assert_allclose(float(sum(model.losses)), expected, rtol=1e-6)


def test_dropout_zero_makes_training_mode_deterministic():
    model = tiny_network("unet", dropout=0.0)
    data = random_images(DOMAINS, size=256, batch=1, uniform=True)
    a = model(data, training=True)["ensemble"].numpy()
    b = model(data, training=True)["ensemble"].numpy()
    np.testing.assert_array_equal(a, b)


def test_generator_round_trip_in_safe_mode(tmp_path):
    model = tiny_network("unet", sparsity=1e-3, decoder_norms="shared", exchange=ExchangeConfig(scope="part"))
    model(random_images(DOMAINS, size=256, batch=1, uniform=True), training=True)  # move the running statistics
    loaded = run_model_saving_test(model, random_images(DOMAINS, size=256, batch=1, uniform=True), tmp_path / "g.keras")
    assert isinstance(loaded, CENUNetGenerator)


def test_generator_input_errors_name_the_input(generator):
    with pytest.raises(ValueError, match=r"missing \['texture'\]"):
        generator({"shade": random_images(DOMAINS, size=256, batch=1, uniform=True)["shade"]})
    with pytest.raises(ValueError, match="input 'texture' must have 3 channels"):
        generator(
            {
                **random_images(DOMAINS, size=256, batch=1, uniform=True),
                "texture": np.zeros((1, 256, 256, 1), np.float32),
            }
        )
    with pytest.raises(ValueError, match="decoder_norms"):
        tiny_network("unet", decoder_norms="tied")


def test_discriminator_gives_30x30_patches_for_256_pairs(tmp_path):
    disc = build_patchgan_discriminator(filters=4)
    pair = {
        "condition": random_images(DOMAINS, size=256, batch=1, uniform=True)["shade"],
        "image": random_images(DOMAINS, size=256, batch=1, uniform=True)["texture"],
    }
    out = disc(pair, training=True)
    assert out.shape == (1, 30, 30, 1)
    assert 0.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
    norms = [layer.name for layer in disc.layers if "insnorm" in layer.name]
    assert norms == ["conv2.insnorm", "conv3.insnorm", "conv4.insnorm"]
    assert isinstance(run_model_saving_test(disc, pair, tmp_path / "disc.keras"), PatchGANDiscriminator)


def test_discriminator_logits_option():
    disc = build_patchgan_discriminator(filters=4, activation=None)
    out = disc(
        {
            "condition": random_images(DOMAINS, size=256, batch=1, uniform=True)["shade"],
            "image": random_images(DOMAINS, size=256, batch=1, uniform=True)["texture"],
        }
    )
    assert float(tf.reduce_min(out)) < 0.0
    with pytest.raises(ValueError, match="activation"):
        build_patchgan_discriminator(activation="tanh")


def test_fewer_levels_for_small_images_keep_the_official_pattern():
    model = tiny_network("unet", levels=6)
    out = model(random_images(DOMAINS, size=64, batch=1, uniform=True), training=True)
    assert out["ensemble"].shape == (1, 64, 64, 3)
    assert [layer.name for layer in model.exchange_layers()] == [f"conv{b}.insnorm_conv" for b in range(2, 6)]
    assert model.get_config()["levels"] == 6
    with pytest.raises(ValueError, match="levels"):
        tiny_network("unet", levels=9)


def test_discriminator_norm_scales_start_uniform_as_the_generators_when_asked(tmp_path):
    """PyTorch 1.0 drew every InstanceNorm2d(affine=True)'s scales from U(0, 1), the discriminator's too."""
    default = build_patchgan_discriminator(filters=4)
    uniform = build_patchgan_discriminator(filters=4, scale_init="uniform")
    scales = [layer.gamma.numpy() for layer in uniform.layers if "insnorm" in layer.name]
    assert all(np.all(layer.gamma.numpy() == 1) for layer in default.layers if "insnorm" in layer.name)
    assert all(0 <= s.min() and s.max() < 1 and s.std() > 0.1 for s in scales)
    assert not np.allclose(scales[0][:8], scales[1][:8])  # each norm draws its own
    restored = run_model_saving_test(
        uniform, {"condition": np.ones((1, 64, 64, 3)), "image": np.zeros((1, 64, 64, 3))}, tmp_path / "d.keras"
    )
    assert restored.scale_init == "uniform"
    with pytest.raises(ValueError, match="scale_init"):
        build_patchgan_discriminator(scale_init="normal")


def test_official_inference_drops_in_the_decoder_repeatably_and_leaves_plain_inference_alone():
    """The official code evaluates its generator in training mode: instance statistics and decoder
    dropout. `official_inference` does that at inference, from a seed, and nothing else."""
    from cenkeras.layers.instance_norm import use_instance_statistics
    from cenkeras.models.official_inference import official_inference

    model = tiny_network("unet", levels=6)  # decoder block 1 has dropout
    x = random_images(DOMAINS, size=64, batch=2, uniform=True)
    model(x, training=True)  # the running statistics move away from their start
    plain = model(x)["ensemble"].numpy()
    infer = tf.function(lambda inputs: model(inputs, training=False))
    with official_inference(model, seed=3):
        first = infer(x)["ensemble"].numpy()
        second = infer(x)["ensemble"].numpy()  # the stream goes on: other masks
    with official_inference(model, seed=3):
        again = infer(x)["ensemble"].numpy()
    with official_inference(model, seed=4):
        other_seed = model(x)["ensemble"].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, second) and not np.allclose(first, other_seed)
    np.testing.assert_array_equal(model(x)["ensemble"].numpy(), plain)  # outside: as before
    use_instance_statistics(model)
    without_dropout = model(x)["ensemble"].numpy()
    assert not np.allclose(without_dropout, plain)  # instance statistics alone differ from running ones
    assert not np.allclose(first, without_dropout)  # and the dropout changes the images
