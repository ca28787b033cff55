"""Updates that wait for their gradients: same values, no term computed ahead of its gradient."""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from cenkeras.tasks.updates import updates_wait_for_gradients


def ancestors(op):
    """Every op `op` waits for, through data and control inputs."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def traced_sgd_step(waits):
    variable = tf.Variable([1.0, -2.0])
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    optimizer.build([variable])

    @tf.function
    def step():
        gradient = tf.square(variable, name="gradient")
        with updates_wait_for_gradients(optimizer) if waits else contextlib.nullcontext():
            optimizer.apply([gradient], [variable])

    return variable, optimizer, step


def test_momentum_products_wait_for_the_gradient():
    """Keras' SGD computes momentum * m from the slot alone: traced as is, nothing orders it after
    the gradient, so a real step computes it for every weight before the forward pass."""
    for waits in (False, True):
        variable, optimizer, step = traced_sgd_step(waits)
        graph = step.get_concrete_function().graph
        products = [op for op in graph.get_operations() if op.type == "Mul"]
        after_gradient = [any(a.name == "gradient" for a in ancestors(op)) for op in products]
        assert all(after_gradient) == waits, (waits, after_gradient)
        step()
        step()
        # m1 = -0.1 g1, v1 = v0 + m1; m2 = 0.9 m1 - 0.1 g2, v2 = v1 + m2 (g = v^2)
        v0 = np.array([1.0, -2.0])
        m1 = -0.1 * v0**2
        v1 = v0 + m1
        v2 = v1 + 0.9 * m1 - 0.1 * v1**2
        np.testing.assert_allclose(variable.numpy(), v2, rtol=1e-6)
        assert "update_step" not in vars(optimizer)  # the optimizer is left as it was


def test_the_segmentation_trainer_updates_wait_for_their_gradients():
    """The trainer's traced step: no op of either optimizer runs ahead of the backward pass (the
    momentum products of RefineNet-101 held 0.5 GB through forward and backward)."""
    from cenkeras.models import build_refinenet
    from cenkeras.tasks.segmentation import SegmentationTrainer

    model = build_refinenet(50, 4, ["rgb", "depth"], stage_blocks=(1, 1, 1, 1), base_width=4, decoder_width=8)
    trainer = SegmentationTrainer(
        model,
        keras.optimizers.SGD(0.1, momentum=0.9, name="encoder_sgd"),
        keras.optimizers.SGD(0.1, momentum=0.9, name="decoder_sgd"),
        num_classes=4,
        weight_decay=1e-4,
    )
    trainer.build_optimizers()
    images = {name: tf.zeros((1, 32, 32, 3)) for name in ("rgb", "depth")}
    labels = tf.zeros((1, 32, 32), tf.int32)
    graph = tf.function(trainer.train_step).get_concrete_function((images, labels)).graph
    products = [
        op for op in graph.get_operations() if op.type == "Mul" and op.name.startswith(("encoder_sgd", "decoder_sgd"))
    ]
    assert products
    for op in products:
        assert any(parent.name.startswith("gradient_tape") for parent in ancestors(op)), op.name
