"""Conv2D / Conv2DTranspose: the convolutions every builder makes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.layers import Conv2D, Conv2DTranspose
from cenkeras.models import build_unet_generator
from cenkeras.training.precision import keras_policy
from harness import optimized_nodes


def kernel_feeds(nodes):
    """`[(convolution, the node giving its kernel, the ReadVariableOp behind it)]` in a graph: the
    kernel is the second input of a forward convolution and of a backward one for the input
    (a transposed convolution's forward op too)."""
    by_name = {node.name: node for node in nodes}

    def producer(node, index):
        return by_name[node.input[index].split(":")[0]]

    feeds = []
    for node in nodes:
        if node.op in ("Conv2D", "_FusedConv2D", "Conv2DBackpropInput"):
            kernel = producer(node, 1)
            feeds.append((node, kernel, producer(kernel, 0) if kernel.op == "Cast" else kernel))
    return feeds


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
    with pytest.raises(ValueError, match="symmetric_padding=-1 must be >= 0"):
        Conv2D(4, 3, symmetric_padding=-1)


@pytest.mark.parametrize("layer", [Conv2D, Conv2DTranspose])
def test_a_cast_kernel_is_read_after_the_input_at_inference(layer):
    """The bf16 cast of a kernel, left to itself, runs at the start of the call and lives until
    its convolution: every kernel's copy alive at once. At inference the read waits for the
    layer's input (in the graph that runs, after Grappler); in float32 nothing is cast or waits."""
    options = {"padding": "same"} if layer is Conv2DTranspose else {"symmetric_padding": 1}
    x = tf.random.normal((1, 8, 8, 3))
    for policy, cast in [("mixed_bfloat16", True), ("float32", False)]:
        conv = layer(4, 4, strides=2, dtype=policy, **options)
        conv(x)  # builds it outside the traced function
        _, nodes = optimized_nodes(tf.function(lambda t: conv(tf.nn.relu(t), training=False)), x)
        feeds = kernel_feeds(nodes)
        assert len(feeds) == 1, [node.name for node in nodes]
        (_, kernel, read) = feeds[0]
        assert read.op == "ReadVariableOp"
        assert (kernel.op == "Cast") == cast and waits(read) == cast, (policy, kernel, read)


def bf16_gradient_step(conv):
    @tf.function
    def step(t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            loss = tf.reduce_sum(tf.cast(conv(tf.nn.relu(t), training=True), "float32") ** 2)
        return tape.gradient(loss, [t, *conv.trainable_variables])

    return step


def test_training_casts_the_kernel_again_for_the_backward_pass():
    """TensorFlow's gradient of a convolution reads the kernel its forward pass used: a bf16 copy
    of every weight alive from the forward pass to the backward one (the step's peak). The
    backward pass casts its own, once the gradient reaches the layer; the second forward
    convolution its gradient is taken from is pruned."""
    conv = Conv2D(4, 3, strides=2, symmetric_padding=1, dtype="mixed_bfloat16")
    x = tf.random.normal((1, 8, 8, 3))
    conv(x)
    _, nodes = optimized_nodes(bf16_gradient_step(conv), x)
    feeds = {convolution.op: (kernel, read) for convolution, kernel, read in kernel_feeds(nodes)}
    assert sorted(feeds) == ["Conv2DBackpropInput", "_FusedConv2D"], [node.name for node in nodes]
    (forward, read), (backward, _) = feeds["_FusedConv2D"], feeds["Conv2DBackpropInput"]
    assert forward.op == backward.op == "Cast" and forward.name != backward.name
    assert waits(read) and waits(backward), (read, backward)


@pytest.mark.parametrize("kernel, stride, pad, dilation", [(3, 2, 1, 1), (7, 2, 3, 1), (3, 1, 2, 2), (1, 1, 0, 1)])
def test_bf16_gradients_are_keras_own(kernel, stride, pad, dilation):
    x = tf.constant(np.random.default_rng(1).normal(size=(2, 13, 10, 3)).astype("float32"))
    options = {"strides": stride, "dilation_rate": dilation, "use_bias": True, "dtype": "mixed_bfloat16"}
    conv = Conv2D(5, kernel, symmetric_padding=pad, **options)
    reference = keras.layers.Conv2D(5, kernel, **options)
    padded = keras.layers.ZeroPadding2D(pad)
    conv(x)
    reference(padded(x))
    conv.set_weights(reference.get_weights())
    reference_step = bf16_gradient_step(keras.Sequential([padded, reference]))
    for got, want in zip(bf16_gradient_step(conv)(x), reference_step(x), strict=True):
        scale = float(tf.reduce_max(tf.abs(want)))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-2 * scale)


def test_bf16_generator_inference_runs_as_a_graph_and_waits():
    """oneDNN's rewrite fuses each Pad into its convolution: a kernel read waiting for the Pad's
    output would make a cycle. The U-Net's encoder pads before every convolution."""
    with keras_policy("mixed_bfloat16"):
        generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0)
    rng = np.random.default_rng(0)
    x = {name: tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")) for name in ("shade", "texture")}
    served, nodes = optimized_nodes(tf.function(lambda inputs: generator(inputs, training=False)), x)
    feeds = kernel_feeds(nodes)
    assert len(feeds) >= 10 and all(kernel.op == "Cast" and waits(read) for _, kernel, read in feeds)
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
