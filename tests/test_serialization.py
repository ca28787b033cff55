"""One serialization harness for every class cenkeras registers with Keras.

Each registered class has a sample built with every constructor argument
(the test fails when a class is registered without one, or when an argument
is added and not given here). The harness checks that `get_config` returns
every argument, that the config rebuilds an equal object, and that it
round-trips through Keras' safe-mode deserialization (what `.keras` loading
uses).
"""

import dataclasses
import inspect
import json

import keras
import numpy as np
import pytest

from harness import run_layer_test

import cenkeras.layers as layers
import cenkeras.metrics as metrics
import cenkeras.models as models
from cenkeras.layers import ExchangeConfig, FusionConfig, ModalityPreprocessor

TWO_STREAMS = [
    np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32"),
    np.random.default_rng(1).normal(size=(2, 8, 8, 4)).astype("float32"),
]

# class name -> (class, every constructor argument, an input to compare outputs on or None)
SAMPLES = {
    "ConfusionMatrix": (metrics.ConfusionMatrix, {"num_classes": 5, "ignore_label": 250, "name": "scores"}, None),
    "InstanceNormalization": (
        layers.InstanceNormalization,
        {
            "epsilon": 1e-3,
            "momentum": 0.8,
            "center": False,
            "scale": True,
            "track_running_stats": False,
            "gamma_initializer": keras.initializers.RandomUniform(0.0, 1.0, seed=5),
            "gamma_regularizer": layers.SliceL1(1e-3, 0, 2),
        },
        TWO_STREAMS[0],
    ),
    "ModalityEnsemble": (layers.ModalityEnsemble, {"num_modalities": 2}, TWO_STREAMS),
    "ConcatFusion": (layers.ConcatFusion, {}, TWO_STREAMS),
    "AverageFusion": (layers.AverageFusion, {}, TWO_STREAMS),
    "SelfAttentionFusion": (layers.SelfAttentionFusion, {"reduction": 2}, TWO_STREAMS),
    "FeatureAlignment": (layers.FeatureAlignment, {"weight": 0.3, "grid": 4}, TWO_STREAMS),
    "ParallelNormalization": (
        layers.ParallelNormalization,
        {
            "num_modalities": 2,
            "norm": "instance",
            "share_norms": False,
            "freeze_statistics": True,
            "affine_inference": False,
            "scale_init": "uniform",
            "lone_norms": True,
            "epsilon": 1e-3,
        },
        TWO_STREAMS,
    ),
    "ChannelExchange": (
        layers.ChannelExchange,
        {
            "num_modalities": 2,
            "threshold": 0.5,
            "norm": "batch",
            "scope": "part",
            "sparsity": 1e-3,
            "sparsity_scope": "all",
            "rule": "random",
            "portion": 0.5,
            "seed": 7,
            "share_norms": False,
            "freeze_statistics": True,
            "affine_inference": False,
            "scale_init": "uniform",
            "lone_norms": False,
            "epsilon": 1e-4,
        },
        TWO_STREAMS,
    ),
    "ResizeLike": (layers.ResizeLike, {"align_corners": False}, [TWO_STREAMS[0], np.zeros((2, 16, 12, 1))]),
    "StackStreams": (layers.StackStreams, {"num_modalities": 2}, TWO_STREAMS),
    "UnstackStreams": (layers.UnstackStreams, {"num_modalities": 2}, TWO_STREAMS[0]),
    "WaitFor": (layers.WaitFor, {}, TWO_STREAMS),
    "Conv2D": (
        layers.Conv2D,
        {"filters": 4, "kernel_size": (3, 3), "symmetric_padding": 1},
        TWO_STREAMS[0],
    ),
    "Conv2DTranspose": (layers.Conv2DTranspose, {"filters": 4, "kernel_size": (4, 4)}, TWO_STREAMS[0]),
    "SliceL1": (layers.SliceL1, {"strength": 2e-3, "start": 1, "stop": 3}, None),
    "ModalityPreprocessor": (
        ModalityPreprocessor,
        {
            "kind": "depth",
            "mean": (0.1, 0.2, 0.3),
            "std": (0.4, 0.5, 0.6),
            "scale": 1e-3,
            "depth_mode": "minmax",
            "channels": (0,),
        },
        np.arange(2 * 8 * 8, dtype="float32").reshape(2, 8, 8, 1),
    ),
    "PatchGANDiscriminator": (
        models.PatchGANDiscriminator,
        {"filters": 4, "condition_channels": 6, "image_channels": 3, "activation": None, "scale_init": "uniform"},
        None,
    ),
    "CENRefineNet": (
        models.CENRefineNet,
        {
            "depth": 50,
            "num_classes": 3,
            "modalities": ("rgb", "thermal"),
            "network": models.NetworkOptions(
                exchange=ExchangeConfig(threshold=0.05, scope="part", rule="fixed", portion=0.5, sparsity_scope="all"),
                fusion=FusionConfig("exchange", "late", 0.2),
                sparsity=1e-3,
                dropout=0.1,
                stack_streams=True,
                affine_inference=False,
                ensemble="concat",
            ),
            "freeze_norm_statistics": True,
            "synchronized_bn": False,
            "stage_blocks": (1, 1, 1, 1),
            "base_width": 4,
            "decoder_width": 8,
            "preprocessing": {"rgb": ModalityPreprocessor("hha"), "thermal": ModalityPreprocessor("gray")},
        },
        None,
    ),
    "CENPSPNet": (
        models.CENPSPNet,
        {
            "depth": 50,
            "num_classes": 3,
            "modalities": ("rgb", "depth"),
            "network": models.NetworkOptions(
                exchange=ExchangeConfig(threshold=0.05, scope="part"),
                fusion=FusionConfig("concat", "middle"),
                sparsity=1e-3,
                share_norms=True,
                dropout=0.2,
                input_channels=1,
                affine_inference=False,
            ),
            "freeze_norm_statistics": True,
            "synchronized_bn": False,
            "stage_blocks": (1, 1, 1, 1),
            "base_width": 4,
            "decoder_width": 8,
            "pyramid_bins": (1, 3),
            "auxiliary_weight": 0.25,
            "preprocessing": {"rgb": ModalityPreprocessor("rgb"), "depth": ModalityPreprocessor("depth")},
        },
        None,
    ),
    "AdaptiveAveragePooling": (layers.AdaptiveAveragePooling, {"bins": 3}, TWO_STREAMS[0]),
    "ConcatEnsemble": (layers.ConcatEnsemble, {"num_modalities": 2}, TWO_STREAMS),
    "ConditionalNormalization": (
        layers.ConditionalNormalization,
        {
            "num_modalities": 2,
            "reduction": 2,
            "norm": "batch",
            "share_norms": False,
            "freeze_statistics": True,
            "affine_inference": False,
            "scale_init": "ones",
            "lone_norms": False,
            "epsilon": 1e-3,
        },
        TWO_STREAMS,
    ),
    "CENUNetGenerator": (
        models.CENUNetGenerator,
        {
            "modalities": ("shade", "texture"),
            "network": models.NetworkOptions(
                exchange=ExchangeConfig(threshold=0.2, rule="discard"),
                fusion=FusionConfig("average", "middle"),
                sparsity=1e-3,
                dropout=0.2,
                stack_streams=True,
                affine_inference=False,
                ensemble="concat",
            ),
            "decoder_norms": "shared",
            "filters": 4,
            "output_channels": 1,
            "levels": 4,
            "norm_scale_init": "uniform",
            "preprocessing": {"shade": ModalityPreprocessor("domain"), "texture": ModalityPreprocessor("domain")},
        },
        None,
    ),
}


def registered_classes():
    return {
        key.split(">", 1)[1]: cls
        for key, cls in keras.saving.get_custom_objects().items()
        if key.startswith("cenkeras>")
    }


def own_parameters(cls):
    """Constructor parameters the class and its cenkeras bases define (Keras' own excluded)."""
    names = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("cenkeras") and "__init__" in vars(klass):
            for parameter in inspect.signature(klass.__init__).parameters.values():
                if parameter.name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
                    names.append(parameter.name)
    return names


def test_every_registered_class_has_a_sample_with_every_argument():
    assert sorted(registered_classes()) == sorted(SAMPLES)
    for name, (cls, arguments, _) in SAMPLES.items():
        missing = [p for p in own_parameters(cls) if p not in arguments]
        assert not missing, f"the sample of {name} does not set {missing}"


def _plain(value):
    """A constructor argument as a config holds it."""
    if isinstance(value, (ExchangeConfig, FusionConfig, models.NetworkOptions)):
        return dataclasses.asdict(value)
    if isinstance(value, ModalityPreprocessor):
        return value.options()
    if isinstance(value, keras.regularizers.Regularizer):
        return keras.regularizers.serialize(value)
    if isinstance(value, keras.initializers.Initializer):
        return keras.initializers.serialize(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_config_holds_every_argument_and_round_trips_in_safe_mode(name):
    cls, arguments, sample_input = SAMPLES[name]
    original = cls(**arguments)
    if sample_input is not None:
        before = keras.tree.map_structure(keras.ops.convert_to_numpy, original(sample_input))
    config = original.get_config()
    for key, value in arguments.items():
        held = config.get(key)
        assert _plain(held) == _plain(value), f"{name}.get_config() holds {key}={held!r}, not {value!r}"

    rebuilt = cls.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(original)))
    loaded = keras.saving.deserialize_keras_object(serialized, safe_mode=True)
    assert type(loaded) is cls and loaded.get_config() == config

    if sample_input is not None:
        loaded(sample_input)  # builds it
        if original.weights:
            loaded.set_weights(original.get_weights())
        after = keras.tree.map_structure(keras.ops.convert_to_numpy, loaded(sample_input))
        for a, b in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# Every layer's weights: (trainable, non-trainable) variables of its sample. The preprocessor
# computes in float32 under any policy (raw pixels in, the network's dtype applied after it).
LAYER_WEIGHTS = {
    "AdaptiveAveragePooling": (0, 0),
    "AverageFusion": (0, 0),
    "ChannelExchange": (4, 4),  # gamma and beta per modality; running mean and variance per modality
    "ConcatEnsemble": (2, 0),
    "ConcatFusion": (2, 0),
    "ConditionalNormalization": (8, 4),
    "Conv2D": (2, 0),
    "Conv2DTranspose": (2, 0),
    "FeatureAlignment": (0, 0),
    "InstanceNormalization": (1, 0),  # scale only, no running statistics
    "ModalityEnsemble": (1, 0),  # alpha
    "ModalityPreprocessor": (0, 0),
    "ParallelNormalization": (8, 8),  # two norms and, with lone_norms, two more
    "ResizeLike": (0, 0),
    "SelfAttentionFusion": (6, 0),
    "StackStreams": (0, 0),
    "UnstackStreams": (0, 0),
    "WaitFor": (0, 0),
}


def test_every_layer_with_a_sample_input_has_its_weight_counts_here():
    layered = {
        name
        for name, (cls, _, sample_input) in SAMPLES.items()
        if sample_input is not None and issubclass(cls, keras.layers.Layer) and not issubclass(cls, keras.Model)
    }
    assert layered == set(LAYER_WEIGHTS)


@pytest.mark.parametrize("name", sorted(LAYER_WEIGHTS))
def test_every_layer_passes_the_layer_test(name, tmp_path):
    cls, arguments, sample_input = SAMPLES[name]
    trainable, non_trainable = LAYER_WEIGHTS[name]
    run_layer_test(
        lambda: cls(**arguments),
        sample_input,
        tmp_path / f"{name}.keras",
        trainable_weights=trainable,
        non_trainable_weights=non_trainable,
        mixed_dtype="float32" if name == "ModalityPreprocessor" else "bfloat16",
    )
