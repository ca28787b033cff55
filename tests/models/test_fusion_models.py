"""Every fusion baseline, at every stage, in both settings, for the segmenter and the generator."""

import keras
import numpy as np
import pytest

from cenkeras.layers import ExchangeConfig, FusionConfig
from cenkeras.models import build_refinenet, build_unet_generator, tiny_options
from harness import random_images, run_model_saving_test

FUSIONS = ["exchange", "concat", "average", "self_attention", "align"]
STAGES = ["early", "middle", "late", "all"]
# Channels at the fusion points of the tiny networks below.
SEGMENTER_CHANNELS = {"stem": 8, "layer1": 32, "layer2": 64, "layer3": 128, "layer4": 256}
GENERATOR_CHANNELS = {1: 4, 2: 8, 3: 16, 4: 32, 5: 32}
STAGE_POINTS = {"early": [0], "middle": [2], "late": [-1], "all": [0, 1, 2, 3, 4]}


def expected_fusion_parameters(fusion, stage, channels, streams=2):
    """What the paper's Table 2 counts as parameters used for fusion."""
    points = [list(channels.values())[i] for i in STAGE_POINTS[stage]]
    if fusion == "concat":
        return sum(streams * c * c + c for c in points)
    if fusion == "self_attention":
        total = 0
        for c in points:
            width = streams * c
            hidden = max(width // 16, 1)
            total += 9 * width * hidden + hidden + 9 * hidden * width + width + width * c + c
        return total
    return 0  # exchange, average and align fuse without parameters


def segmenter(**options):
    return build_refinenet(50, 5, ["rgb", "depth"], dropout=0.0, **tiny_options(), **options)


def generator(**options):
    return build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0, **options)


TASKS = {
    "segmenter": (segmenter, SEGMENTER_CHANNELS, (2, 32, 32, 3), (2, 8, 8, 5)),
    "generator": (generator, GENERATOR_CHANNELS, (2, 32, 32, 3), (2, 32, 32, 3)),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_builds_at_every_stage_with_its_parameter_count(task, fusion):
    build, channels, input_shape, output_shape = TASKS[task]
    rng = np.random.default_rng(0)
    inputs = {name: rng.normal(size=input_shape).astype("float32") for name in build().modalities}
    for stage in STAGES:
        for share_convs in (True, False):  # our setting, and the commonly-used unshared encoders
            model = build(fusion=FusionConfig(fusion, stage), share_convs=share_convs, stack_streams=share_convs)
            outputs = model(inputs, training=True)
            assert set(outputs) == {*model.modalities, "ensemble"}
            for value in outputs.values():
                assert value.shape == output_shape
            assert model.fusion_parameter_count() == expected_fusion_parameters(fusion, stage, channels)
            assert len(model.losses) == (len(STAGE_POINTS[stage]) if fusion == "align" else 0)
            exchanging = [s["exchanged"] for layer in model.exchange_statistics().values() for s in layer]
            if fusion != "exchange":
                assert sum(exchanging) == 0  # a baseline exchanges nothing


def test_aggregated_features_reach_every_stream():
    """With concat fusion after the stem, changing one modality's input changes the other's output."""
    model = segmenter(fusion=FusionConfig("concat", "early"))
    rng = np.random.default_rng(1)
    inputs = {name: rng.normal(size=(1, 32, 32, 3)).astype("float32") for name in ("rgb", "depth")}
    before = keras.ops.convert_to_numpy(model(inputs)["rgb"])
    inputs["depth"] = inputs["depth"] + 1.0
    after = keras.ops.convert_to_numpy(model(inputs)["rgb"])
    assert np.abs(before - after).max() > 1e-4
    plain = segmenter(fusion=FusionConfig("average", "early"), share_convs=False)
    assert plain.fusion_parameter_count() == 0


@pytest.mark.parametrize("build", [segmenter, generator])
def test_fusion_models_round_trip_in_safe_mode(tmp_path, build):
    model = build(fusion=FusionConfig("self_attention", "all"), exchange=ExchangeConfig(rule="fixed"))
    inputs = random_images(model.modalities, size=32, batch=1, seed=2)
    loaded = run_model_saving_test(model, inputs, tmp_path / "fused.keras")
    assert loaded.fusion.method == "self_attention" and loaded.fusion.stage == "all"
    assert loaded.fusion_parameter_count() == model.fusion_parameter_count() > 0


def test_a_baseline_needs_two_modalities_and_known_names():
    with pytest.raises(ValueError, match="fusion 'concat' needs at least 2 modalities"):
        build_refinenet(50, 5, ["rgb"], fusion=FusionConfig("concat"), **tiny_options())
    with pytest.raises(ValueError, match="fusion.method must be one of"):
        segmenter(fusion=FusionConfig("sum"))


@pytest.mark.parametrize("build", [segmenter, generator])
def test_models_saved_with_flat_options_still_load(build):
    """Configs of .keras files from before ExchangeConfig / FusionConfig and NetworkOptions held
    the options flat."""
    model = build(
        fusion=FusionConfig("concat", "late", 0.2),
        exchange=ExchangeConfig(threshold=0.03, scope="part", rule="fixed", portion=0.4),
    )
    config = model.get_config()
    network = config.pop("network")
    exchange, fusion = network.pop("exchange"), network.pop("fusion")
    config.update(network)
    config.update(
        threshold=exchange["threshold"],
        exchange=exchange["scope"],
        exchange_rule=exchange["rule"],
        exchange_portion=exchange["portion"],
        sparsity_scope=exchange["sparsity_scope"],
        fusion=fusion["method"],
        fusion_stage=fusion["stage"],
        alignment_weight=fusion["alignment_weight"],
    )
    loaded = type(model).from_config(config)
    assert loaded.exchange == model.exchange and loaded.fusion == model.fusion
    assert loaded.get_config() == model.get_config()


def test_the_generators_middle_fusion_follows_its_4th_encoder_block():
    """Paper, Sec. 4.2: the 1st, 4th and 8th conv layers are the early, middle and late stages."""
    for stage, block in (("early", 1), ("middle", 4), ("late", 8)):
        model = build_unet_generator(["shade", "texture"], filters=4, fusion=FusionConfig("average", stage))
        assert [layer.name for layer in model.fusion_layers()] == [f"fusion_{block}"]
