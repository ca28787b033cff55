"""The timed workloads of `bench/bench_models.py`, built and run in the current process.

Each workload builds a real full-size model (random weights: timing does not
depend on them), traces one `tf.function`, and is timed as warm-up calls
followed by timed calls. `conv_flops` counts the multiply-adds of the
model's convolutions from the traced graph, so GFLOP/s is the convolution
work done per second (training counts 3x the forward convolutions: forward,
input gradient, weight gradient).
"""

import keras
import numpy as np
import tensorflow as tf

from cenkeras.models import build_refinenet, build_unet_generator
from cenkeras.tasks.segmentation import SegmentationTrainer
from cenkeras.tasks.jobs import dtype_policy

SEGMENTER_MODALITIES = ("rgb", "depth", "hha")
GENERATOR_DOMAINS = ("shade", "texture", "normal")


def conv_flops(model, input_shapes):
    """FLOPs (2 x multiply-adds) of every convolution in one forward pass at the given input shapes."""
    spec = {name: tf.TensorSpec(shape, tf.float32) for name, shape in input_shapes.items()}
    graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":  # output x kernel window x input channels
            kernel = op.inputs[1].shape
            total += 2 * np.prod(op.outputs[0].shape) * kernel[0] * kernel[1] * kernel[2]
        elif op.type == "Conv2DBackpropInput":  # a transposed convolution: its small side x kernel
            kernel = op.inputs[1].shape
            total += 2 * np.prod(op.inputs[2].shape) * kernel[0] * kernel[1] * kernel[2]
    return int(total)


def random_images(names, batch, height, width, seed=0):
    rng = np.random.default_rng(seed)
    return {name: tf.constant(rng.normal(size=(batch, height, width, 3)), tf.float32) for name in names}


def segmenter(spec):
    """RefineNet-101 train step of `SegmentationTrainer` (frozen BN, CE at label size on every output
    + L1, two SGD optimizers, weight decay) or inference."""
    names = SEGMENTER_MODALITIES[: spec.get("modalities", 2)]
    options = {"stack_streams": True, "affine_inference": True, **spec.get("options", {})}
    with dtype_policy(spec["precision"]):
        model = build_refinenet(
            spec.get("depth", 101), 40, names, sparsity=6e-4, freeze_norm_statistics=True, **options
        )
    batch, (height, width) = spec["batch"], spec["size"]
    x = random_images(names, batch, height, width)
    shapes = {name: (batch, height, width, 3) for name in names}
    if spec["kind"] == "segmenter inference":
        return tf.function(lambda: model(x, training=False)["ensemble"]), lambda: conv_flops(model, shapes)

    # The trainer `cenkeras train` runs: cross-entropy at label size on every output + L1, two SGDs.
    labels = tf.constant(np.random.default_rng(1).integers(0, 40, (batch, height, width)), tf.int32)
    trainer = SegmentationTrainer(
        model,
        keras.optimizers.SGD(5e-4, momentum=0.9),
        keras.optimizers.SGD(3e-3, momentum=0.9),
        num_classes=40,
        weight_decay=1e-5,
    )
    trainer.compile(optimizer=trainer.encoder_optimizer)
    trainer.build_optimizers()  # as `cenkeras train` does: slots made before tracing, one trace
    step = tf.function(trainer.train_step, jit_compile=False)

    def train_step():
        return step((x, labels))["loss"]

    return train_step, lambda: 3 * conv_flops(model, shapes)


def generator(spec):
    """U-Net-256 generator forward + backward (L1 on every output) or inference, batch 1."""
    names = GENERATOR_DOMAINS[: spec.get("modalities", 2)]
    options = {"stack_streams": True, "affine_inference": True, **spec.get("options", {})}
    with dtype_policy(spec["precision"]):
        model = build_unet_generator(list(names), sparsity=1e-3, **options)
    x = random_images(names, 1, 256, 256)
    target = tf.constant(np.random.default_rng(2).uniform(-1, 1, (1, 256, 256, 3)), tf.float32)
    shapes = {name: (1, 256, 256, 3) for name in names}
    if spec["kind"] == "generator inference":
        return tf.function(lambda: model(x, training=False)["ensemble"]), lambda: conv_flops(model, shapes)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.abs(v - target)) for v in outputs.values()]) + tf.add_n(model.losses)
        return tape.gradient(loss, model.trainable_variables)

    return forward_backward, lambda: 3 * conv_flops(model, shapes)


def raw_rgbd(height, width):
    """One serving request: a raw uint8 RGB image and a uint16 depth map (PNG units)."""
    rng = np.random.default_rng(0)
    return {
        "rgb": tf.constant(rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8)),
        "depth": tf.constant(rng.integers(0, 40000, (1, height, width, 1), dtype=np.uint16)),
    }


def saved_model(spec):
    """An exported serving SavedModel (raw uint8 RGB + uint16 depth in, preprocessing inside, labels out)."""
    serve = tf.saved_model.load(spec["path"]).signatures["serving_labels"]  # labels out, as `predict` asks
    images = raw_rgbd(*spec["size"])
    return (lambda: serve(**images)["ensemble_labels"]), lambda: spec["flops"]


BUILDERS = {
    "segmenter train": segmenter,
    "segmenter inference": segmenter,
    "generator fwd+bwd": generator,
    "generator inference": generator,
    "SavedModel inference": saved_model,
}


def build(spec):
    """(function to time, function counting its convolution FLOPs): count after timing, so that
    tracing the extra graph does not enter the workload's peak memory."""
    return BUILDERS[spec["kind"]](spec)


def wait_for(result):
    """Fetches the values: TF may return before its asynchronous work is done."""
    tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, result)
