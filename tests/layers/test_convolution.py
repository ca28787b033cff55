"""Conv2D / Conv2DTranspose: the convolutions every builder makes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import Conv2D, Conv2DTranspose
from cenkeras.models import build_unet_generator
from cenkeras.precision import keras_policy
from cen_testing import optimized_nodes


def kernel_reads(nodes):
    """ReadVariableOps of convolution kernels (named after the convolution op that takes them)."""
    return [
        node
        for node in nodes
        if node.op == "ReadVariableOp" and ("/convolution/" in node.name or "/conv_transpose/" in node.name)
    ]


def waits(node):
    """Whether a node has a control input (TensorFlow writes those as `^name`)."""
    return any(name.startswith("^") for name in node.input)


@pytest.mark.parametrize("kernel, stride, pad", [(3, 2, 1), (7, 2, 3), (4, 2, 1), (3, 1, 0)])
def test_same_as_zero_padding_then_a_valid_convolution(kernel, stride, pad):
    x = np.random.default_rng(0).normal(size=(2, 13, 10, 3)).astype("float32")
    conv = Conv2D(5, kernel, strides=stride, symmetric_padding=pad, use_bias=True)
    reference = keras.layers.Conv2D(5, kernel, strides=stride, use_bias=True)
    want = reference(keras.layers.ZeroPadding2D(pad)(x))
    conv(x)
    conv.set_weights(reference.get_weights())
    np.testing.assert_allclose(conv(x), want, rtol=1e-5, atol=1e-5)
    assert conv.compute_output_shape((None, 13, 10, 3)) == (None, *want.shape[1:])
    assert conv.compute_output_shape((None, None, None, 3)) == (None, None, None, 5)


def test_symmetric_padding_with_same_padding_is_an_error():
    with pytest.raises(ValueError, match="symmetric_padding=1 needs padding='valid'"):
        Conv2D(4, 3, padding="same", symmetric_padding=1)


@pytest.mark.parametrize("layer", [Conv2D, Conv2DTranspose])
def test_a_cast_kernel_is_read_after_the_input_at_inference_only(layer):
    """The bf16 cast of a kernel, left to itself, runs at the start of the call and lives until
    its convolution: every kernel's copy alive at once. At inference the read waits for the
    layer's input (in the graph that runs, after Grappler); in training and in float32 it does not."""
    options = {"padding": "same"} if layer is Conv2DTranspose else {"symmetric_padding": 1}
    x = tf.random.normal((1, 8, 8, 3))
    for policy, training, should_wait in [
        ("mixed_bfloat16", False, True),
        ("mixed_bfloat16", True, False),
        ("float32", False, False),
    ]:
        conv = layer(4, 4, strides=2, dtype=policy, **options)
        conv(x)  # builds it outside the traced function
        _, nodes = optimized_nodes(tf.function(lambda t: conv(tf.nn.relu(t), training=training)), x)
        reads = kernel_reads(nodes)
        assert reads, [node.name for node in nodes]
        assert all(waits(node) == should_wait for node in reads), (policy, training, reads)


def test_bf16_generator_inference_runs_as_a_graph_and_waits():
    """oneDNN's rewrite fuses each Pad into its convolution: a kernel read waiting for the Pad's
    output would make a cycle. The U-Net's encoder pads before every convolution."""
    with keras_policy("mixed_bfloat16"):
        generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0)
    rng = np.random.default_rng(0)
    x = {name: tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")) for name in ("shade", "texture")}
    served, nodes = optimized_nodes(tf.function(lambda inputs: generator(inputs, training=False)), x)
    reads = kernel_reads(nodes)
    assert len(reads) >= 10 and all(waits(node) for node in reads)
    eager = generator(x, training=False)
    for name, image in served.items():
        np.testing.assert_allclose(np.asarray(image, "float32"), np.asarray(eager[name], "float32"), atol=1e-2)


def test_optimized_nodes_are_the_calls_own():
    """Once run metadata has been on in the process, TensorFlow records every function graph
    instantiated later, also while it is off (how a training step's AddN reached the RefineNet
    test in the full suite); the helper leaves those out."""
    optimized_nodes(tf.function(lambda t: t + 1), tf.ones(2))
    tf.function(lambda t: tf.add_n([t * i for i in range(5)]))(tf.ones(3))  # run while off
    _, nodes = optimized_nodes(tf.function(lambda t: t * 2), tf.ones(4))
    assert not [node for node in nodes if node.op == "AddN"]
