"""The trainer against the official training fixture: loss composition and one SGD update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.interop import load_torch_state_dict, normalize_torch_key, torch_variable_map
from cenkeras.interop.torch_state_dict import kernel_to_torch
from cenkeras.models import build_refinenet
from cenkeras.tasks.segmentation import SegmentationTrainer, split_encoder_decoder
from harness import fixture_weights_module, load_reference, nhwc, relative_error

ENCODER_PREFIXES = ("conv1.", "bn1.", "layer")


def test_encoder_decoder_split_follows_the_official_rule():
    model = build_refinenet(50, 5, ["rgb", "depth"], stage_blocks=(1, 1, 1, 1), base_width=4, decoder_width=8)
    encoder, decoder = split_encoder_decoder(model)
    assert len(encoder) + len(decoder) == len(model.trainable_variables)
    assert all(v.path.startswith(("conv1", "bn1", "layer")) for v in encoder)
    assert any(v.path.startswith("clf_conv") for v in decoder)
    assert any("alpha" in v.path for v in decoder)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["frozen", "batchstats"])
def test_loss_and_one_sgd_step_match_the_official_training_fixture(mode):
    weights = fixture_weights_module()
    data, _ = load_reference("fixture_compact_refinenet50_M2_train.npz")
    _, meta = load_reference("fixture_compact_refinenet50_M2.npz")
    state = weights.refinenet_gamma_edits(weights.make_state_dict(meta["keys_shapes"], seed=2020))
    # Official: lambda 2e-4 added once per output (3 outputs).
    model = build_refinenet(
        50, 40, ["rgb", "depth"], dropout=0.0, sparsity=3 * 2e-4, freeze_norm_statistics=mode == "frozen"
    )
    load_torch_state_dict(model, state)
    # Plain SGD with lr 1: the update is minus the gradient, comparable to the fixture's.
    trainer = SegmentationTrainer(
        model, keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0), num_classes=40, weight_decay=0.0
    )
    trainer.compile(optimizer=trainer.encoder_optimizer)
    variables = torch_variable_map(model)
    keys = [k.split(".", 1)[1] for k in data.files if k.startswith(f"{mode}_grad.")]
    targets = [variables[normalize_torch_key(k)][0][0] for k in keys]
    before = [v.numpy().copy() for v in targets]

    batch = ({"rgb": nhwc(data["input_0"]), "depth": nhwc(data["input_1"])}, data["target"].astype(np.int32))
    logs = trainer.train_step(batch)

    assert relative_error(float(logs["loss"]), data[f"{mode}_loss"]) < 1e-4
    losses = [float(logs[f"{name}_loss"]) for name in ("rgb", "depth", "ensemble")]
    assert relative_error(losses, data[f"{mode}_ce"]) < 1e-4
    assert relative_error(float(logs["sparsity"]) / (3 * 2e-4), data[f"{mode}_l1"]) < 1e-4
    for key, variable, old in zip(keys, targets, before):
        step = old - variable.numpy()
        if step.ndim == 4:
            step = kernel_to_torch(step)
        encoder = key.startswith(ENCODER_PREFIXES)
        if mode == "batchstats" and encoder:
            continue  # not reproducible in float32 (see the fixture README)
        tolerance = {"frozen": 5e-3 if encoder else 1e-4, "batchstats": 1e-3}[mode]
        assert relative_error(step, data[f"{mode}_grad.{key}"]) < tolerance, key


def test_a_step_with_a_dropped_modality_trains_the_present_streams_on_their_subset():
    import tensorflow as tf

    from cenkeras.data.modality_dropout import PRESENT_KEY
    from cenkeras.models import tiny_options
    from cenkeras.tasks.segmentation import cross_entropy_sum

    model = build_refinenet(50, 4, ["rgb", "depth"], dropout=0.0, **tiny_options())
    trainer = SegmentationTrainer(
        model, keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), num_classes=4, modality_dropout=True
    )
    trainer.compile(optimizer=trainer.encoder_optimizer)
    rng = np.random.default_rng(0)
    images = {name: rng.normal(size=(2, 32, 32, 3)).astype("float32") for name in ("rgb", "depth")}
    labels = rng.integers(0, 4, size=(2, 32, 32)).astype("int32")
    site = model.get_layer("layer1.0.bn2")
    rgb_gamma, depth_gamma = (norm.gamma.numpy().copy() for norm in site.norms)
    depth_only = model.subset(["depth"])({"depth": images["depth"]}, training=True)
    expected = {
        name: float(total / count)
        for name in ("depth", "ensemble")
        for total, count in [cross_entropy_sum(labels, depth_only[name], 4, 255)]
    }

    logs = trainer.train_step(({**images, PRESENT_KEY: tf.constant([2, 2])}, labels))  # bit 1: depth only

    assert abs(float(logs["loss"]) - sum(expected.values())) < 1e-4
    assert abs(float(logs["depth_loss"]) - expected["depth"]) < 1e-4
    assert float(logs["rgb_loss"]) == 0.0  # no rgb output this step: nothing averaged in
    np.testing.assert_array_equal(site.norms[0].gamma.numpy(), rgb_gamma)  # the absent stream is untouched
    assert np.abs(site.norms[1].gamma.numpy() - depth_gamma).max() > 0


def test_lone_passes_add_each_modality_alone_and_its_distillation_to_a_full_step():
    """`lone_weight` / `lone_distillation`: the full set's loss as before, plus each modality run
    alone (its branch's cross-entropy: the ensemble is detached) and the KL from the full set's
    ensemble to it; the lone norms learn from those passes."""
    from cenkeras.models import tiny_options
    from cenkeras.tasks.segmentation import cross_entropy_sum

    keras.utils.set_random_seed(0)
    model = build_refinenet(50, 4, ["rgb", "depth"], dropout=0.0, lone_norms=True, **tiny_options())
    optimizers = (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    trainer = SegmentationTrainer(model, *optimizers, num_classes=4, lone_weight=0.5, lone_distillation=2.0)
    trainer.compile(optimizer=trainer.encoder_optimizer)
    rng = np.random.default_rng(0)
    images = {name: rng.normal(size=(2, 32, 32, 3)).astype("float32") for name in ("rgb", "depth")}
    labels = rng.integers(0, 4, size=(2, 32, 32)).astype("int32")
    full = model(images, training=True)
    teacher = tf.nn.log_softmax(full["ensemble"], axis=-1)
    lone_ce, divergence = 0.0, 0.0
    for name in ("rgb", "depth"):
        logits = model.subset([name])({name: images[name]}, training=True)[name]
        total, count = cross_entropy_sum(labels, logits, 4, 255)
        lone_ce += float(total / count)
        student = tf.nn.log_softmax(logits, axis=-1)
        divergence += float(tf.reduce_mean(tf.reduce_sum(tf.exp(teacher) * (teacher - student), axis=-1)))
    full_ce = sum(float(t / c) for t, c in (cross_entropy_sum(labels, full[n], 4, 255) for n in full))
    site = model.get_layer("layer1.0.bn2")
    before = [norm.gamma.numpy().copy() for norm in site.norms + site.alone_norms]

    logs = trainer.train_step((images, labels))

    assert abs(float(logs["lone_loss"]) - 0.5 * lone_ce) < 1e-4
    assert abs(float(logs["distillation"]) - 2.0 * divergence) < 1e-4 and divergence > 0
    assert abs(float(logs["loss"]) - (full_ce + 0.5 * lone_ce + 2.0 * divergence)) < 1e-3
    for norm, gamma in zip(site.norms + site.alone_norms, before):  # the full set's and each lone norm learn
        assert np.abs(norm.gamma.numpy() - gamma).max() > 0, norm.name


def test_weight_decay_is_added_to_each_gradient_and_waits_for_it():
    """g + decay * v (PyTorch's coupled L2); each product is computed only after its gradient, so
    the step does not hold a second copy of the weights through forward and backward."""
    from cenkeras.tasks.updates import with_weight_decay

    variables = [tf.Variable([1.0, -2.0]), tf.Variable([[3.0]])]

    @tf.function
    def step():
        gradients = [tf.square(variables[0]), 2.0 * variables[1]]
        return with_weight_decay(gradients, variables, 0.1)

    decayed = step()
    np.testing.assert_allclose(decayed[0], [1.1, 3.8], rtol=1e-6)
    np.testing.assert_allclose(decayed[1], [[6.3]], rtol=1e-6)
    graph = step.get_concrete_function().graph
    # The weight reads of the products (the reads for the gradients come first, with none).
    reads = [op for op in graph.get_operations() if op.type == "ReadVariableOp"]
    assert [bool(op.control_inputs) for op in reads] == [False, False, True, True]
