"""CENPSPNet at tiny size: output stride, dilation, the pyramid, the auxiliary head, exchange placement,
saving, one training step; adaptive pooling against PyTorch's windows."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import random_images, run_model_saving_test, tiny_network

from cenkeras.layers import AdaptiveAveragePooling, ChannelExchange, ParallelNormalization
from cenkeras.models import CENPSPNet, build_refinenet, tiny_options
from cenkeras.tasks.segmentation import SegmentationTrainer, cross_entropy_sum

MODALITIES = ("rgb", "depth")


@pytest.fixture(scope="module")
def model():
    return tiny_network("pspnet")


def adaptive_pool_reference(x, bins):
    """PyTorch's AdaptiveAvgPool2d written out: cell i spans [floor(i*n/bins), ceil((i+1)*n/bins))."""
    batch, height, width, channels = x.shape
    out = np.zeros((batch, bins, bins, channels))
    for i in range(bins):
        rows = slice(i * height // bins, -(-(i + 1) * height // bins))
        for j in range(bins):
            cols = slice(j * width // bins, -(-(j + 1) * width // bins))
            out[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("bins", [1, 2, 3, 6])
@pytest.mark.parametrize("size", [(6, 6), (7, 11), (45, 61)])
def test_adaptive_pooling_uses_pytorchs_overlapping_windows(bins, size):
    x = np.random.default_rng(bins).normal(size=(2, *size, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(AdaptiveAveragePooling(bins)(x))
    np.testing.assert_allclose(got, adaptive_pool_reference(x, bins), rtol=1e-5, atol=1e-6)


def test_adaptive_pooling_matches_torch_where_installed():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(1, 45, 61, 4)).astype("float32")
    for bins in (1, 2, 3, 6):
        want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), bins)
        got = keras.ops.convert_to_numpy(AdaptiveAveragePooling(bins)(x))
        np.testing.assert_allclose(got, want.permute(0, 2, 3, 1).numpy(), atol=1e-5)


def test_adaptive_pooling_serves_any_size_in_one_traced_function():
    pool = AdaptiveAveragePooling(6)
    traced = tf.function(pool, input_signature=[tf.TensorSpec([None, None, None, 2])])
    for size in ((12, 12), (13, 29)):
        x = np.random.default_rng(1).normal(size=(1, *size, 2)).astype("float32")
        np.testing.assert_allclose(traced(x).numpy(), adaptive_pool_reference(x, 6), rtol=1e-5, atol=1e-6)


def test_outputs_at_an_eighth_with_auxiliary_outputs_per_modality(model):
    out = model(random_images(MODALITIES, height=64, size=96), training=False)
    assert set(out) == {"rgb", "depth", "ensemble", "auxiliary.rgb", "auxiliary.depth"}
    for value in out.values():
        assert value.shape == (2, 8, 12, 5)
        assert value.dtype == tf.float32
    assert set(tiny_network("pspnet", auxiliary_weight=0.0).output) == {"rgb", "depth", "ensemble"}


def test_stages_three_and_four_are_dilated_instead_of_strided(model):
    features = keras.Model(model.inputs, model.pyramid_outputs)(random_images(MODALITIES, height=64, size=64))
    sizes = {stage: tuple(x["rgb"].shape[1:3]) for stage, x in features.items()}
    assert sizes == {"layer1": (16, 16), "layer2": (8, 8), "layer3": (8, 8), "layer4": (8, 8)}
    for name, dilation in (("layer2.0.conv2", 1), ("layer3.0.conv2", 2), ("layer4.0.conv2", 4)):
        conv = model.get_layer(name)
        assert conv.dilation_rate == (dilation, dilation), name
        assert conv.strides == ((2, 2) if name.startswith("layer2") else (1, 1)), name
    assert model.get_layer("layer3.0.downsample.0").strides == (1, 1)


def test_dilated_stages_keep_the_plain_resnets_weights():
    """Dilation changes no weight: a RefineNet's encoder and a PSPNet's hold the same variables."""
    refinenet = build_refinenet(50, 5, list(MODALITIES), **tiny_options())
    pspnet = tiny_network("pspnet")
    encoder = lambda m: {v.path: tuple(v.shape) for v in m.weights if v.path.startswith(("conv1", "bn1", "layer"))}
    assert encoder(pspnet) == encoder(refinenet)


def test_pyramid_reduces_to_a_quarter_and_concatenates_with_its_input(model):
    features = 8 * 8 * 4  # base_width x 8 x bottleneck expansion
    for index, bins in enumerate((1, 2, 3, 6)):
        assert model.get_layer(f"ppm.features.{index}.pool").bins == bins
        assert model.get_layer(f"ppm.features.{index}.0").filters == features // 4
    assert model.get_layer("cls.0").kernel.shape == (3, 3, 2 * features, 2 * 16)
    assert model.get_layer("aux.0").kernel.shape == (3, 3, features // 2, 16)  # on layer3: half of layer4


def test_exchange_only_in_the_encoders_bn2_and_decoder_norms_learn_statistics():
    model = tiny_network("pspnet", freeze_norm_statistics=True)
    assert [layer.name for layer in model.exchange_layers()] == [
        "layer1.0.bn2",
        "layer2.0.bn2",
        "layer3.0.bn2",
        "layer4.0.bn2",
    ]
    norms = [layer for layer in model.layers if isinstance(layer, ParallelNormalization)]
    decoder = [layer for layer in norms if layer.name.startswith(("ppm.", "cls.", "aux."))]
    encoder = [layer for layer in norms if layer.name.startswith(("bn1", "layer"))]
    assert len(decoder) == 6 and not any(isinstance(layer, ChannelExchange) for layer in decoder)
    assert all(layer.freeze_statistics for layer in encoder)
    assert not any(layer.freeze_statistics for layer in decoder)
    assert all(len(layer.unique_norms) == 2 for layer in decoder)  # private per modality
    before = keras.ops.convert_to_numpy(model.get_layer("cls.1").norms[0].moving_mean)
    model(random_images(MODALITIES), training=True)
    assert not np.allclose(keras.ops.convert_to_numpy(model.get_layer("cls.1").norms[0].moving_mean), before)


def test_save_and_load_keep_outputs(tmp_path, model):
    loaded = run_model_saving_test(model, random_images(MODALITIES, seed=3), tmp_path / "pspnet.keras")
    assert isinstance(loaded, CENPSPNet) and loaded.pyramid_bins == [1, 2, 3, 6]


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match="pyramid_bins"):
        tiny_network("pspnet", pyramid_bins=(1, 0))
    with pytest.raises(ValueError, match="auxiliary_weight"):
        tiny_network("pspnet", auxiliary_weight=-0.1)


@pytest.mark.slow
def test_one_training_step_adds_the_weighted_auxiliary_loss():
    keras.utils.set_random_seed(0)
    model = tiny_network("pspnet", dropout=0.0, sparsity=1e-3, auxiliary_weight=0.4)
    trainer = SegmentationTrainer(
        model, keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-2), num_classes=5, ignore_label=255
    )
    trainer.compile(optimizer=trainer.encoder_optimizer)
    x = random_images(MODALITIES, batch=2, seed=4)
    labels = np.random.default_rng(5).integers(0, 5, size=(2, 64, 64)).astype("int32")
    labels[:, :8] = 255

    # The loss the trainer reports in evaluation, against the terms computed here.
    outputs = model(x, training=False)
    ce = {name: float(np.divide(*cross_entropy_sum(labels, outputs[name], 5, 255))) for name in outputs}
    sparsity = float(sum(keras.ops.convert_to_numpy(v) for v in model.losses))
    main = ce["rgb"] + ce["depth"] + ce["ensemble"]
    auxiliary = 0.4 * (ce["auxiliary.rgb"] + ce["auxiliary.depth"])
    logs = trainer.evaluate(x, labels, batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], main + auxiliary + sparsity, rtol=1e-4)

    kernel = model.get_layer("aux.4").kernel
    before = keras.ops.convert_to_numpy(kernel).copy()
    history = trainer.fit(tf.data.Dataset.from_tensors((x, labels)), epochs=1, verbose=0, shuffle=False)
    assert history.history["auxiliary_loss"][0] > 0
    assert not np.allclose(keras.ops.convert_to_numpy(kernel), before)  # the auxiliary head learns


def test_without_auxiliary_head_the_trainer_logs_no_auxiliary_loss():
    model = tiny_network("pspnet", auxiliary_weight=0.0)
    trainer = SegmentationTrainer(model, keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-2), num_classes=5)
    trainer.compile(optimizer=trainer.encoder_optimizer)
    labels = np.zeros((2, 64, 64), "int32")
    history = trainer.fit(
        tf.data.Dataset.from_tensors((random_images(MODALITIES), labels)), epochs=1, verbose=0, shuffle=False
    )
    assert "auxiliary_loss" not in history.history


def test_traced_prediction_does_not_run_the_auxiliary_head(model):
    """A function that returns only the main outputs keeps no op of the auxiliary head after
    TensorFlow's pruning, so serving pays nothing for it."""
    spec = {name: tf.TensorSpec([1, 32, 32, 3]) for name in MODALITIES}
    traced = tf.function(lambda x: model(x, training=False)["ensemble"]).get_concrete_function(spec)
    graph = traced.graph.as_graph_def()
    optimized = tf.compat.v1.graph_util.extract_sub_graph(graph, [traced.outputs[0].op.name])
    # Variable reads stay (TensorFlow orders them by control edges); no computation does.
    ops = [node.name for node in optimized.node if node.op not in ("ReadVariableOp", "Placeholder")]
    assert not [name for name in ops if "aux." in name]
    assert [name for name in ops if "cls." in name and name.endswith("convolution")]
