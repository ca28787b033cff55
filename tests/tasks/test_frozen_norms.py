"""Serving graphs run the norms and exchange masks on constants of the weights' values:
the same outputs as the model, and a SavedModel without the norms' variables."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from cenkeras.config import Recipe
from cenkeras.data.pipeline import preprocessors
from cenkeras.serving.export import SegmentationServing
from cenkeras.serving.frozen_norms import FrozenNorms
from cenkeras.layers.instance_norm import use_instance_statistics
from cenkeras.models import build_refinenet, build_unet_generator, tiny_options
from harness import trained_looking


def raw_images(seed=0, height=24, width=20):
    rng = np.random.default_rng(seed)
    return {
        "rgb": tf.constant(rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8)),
        "depth": tf.constant(rng.integers(0, 40000, (2, height, width, 1), dtype=np.uint16)),
    }


def keras_logits(module, model, names, images):
    """The network's logits computed eagerly from its variables (no constants)."""
    return model({name: module.preprocessors[name](images[name]) for name in names}, training=False)


@pytest.mark.parametrize("stack", [False, True])
def test_serving_graphs_compute_what_the_model_computes(stack):
    model = build_refinenet(50, 5, ["rgb", "depth"], stack_streams=stack, **tiny_options())
    module = SegmentationServing(model, preprocessors(Recipe().data))
    trained_looking(model)  # after the module is made: the graphs take the values of trace time
    assert sum(layer.exchange_statistics()[0]["exchanged"] for layer in model.exchange_layers()) > 0
    images = raw_images()
    served = module._forwards.value[("rgb", "depth")](images)
    expected = keras_logits(module, model, ("rgb", "depth"), images)
    for name in ("rgb", "depth", "ensemble"):
        np.testing.assert_allclose(served[name], expected[name], rtol=1e-5, atol=1e-5)
    alone = module._forwards.value[("depth",)]({"depth": images["depth"]})
    expected = keras_logits(module, model.subset(["depth"]), ("depth",), images)
    np.testing.assert_allclose(alone["ensemble"], expected["ensemble"], rtol=1e-5, atol=1e-5)
    # Outside the traces the layers are back on their variables; a block inside another
    # leaves the outer one's constants in place.
    frozen = FrozenNorms(model)
    assert all(site.frozen_constants is None for site in frozen.sites)
    with frozen.applied():
        with frozen.applied():
            pass
        assert all(site.frozen_constants is not None for site in frozen.sites)
    assert all(site.frozen_constants is None for site in frozen.sites)


def test_the_savedmodel_keeps_no_norm_variable(tmp_path):
    """The file saves the convolutions' and the ensemble's variables; the forward graphs read no
    norm weight and fold nothing (no Rsqrt), and the loaded model serves the same labels."""
    model = trained_looking(build_refinenet(50, 5, ["rgb", "depth"], stack_streams=True, **tiny_options()))
    module = SegmentationServing(model, preprocessors(Recipe().data))
    norm_variables = FrozenNorms(model).folded_variables
    assert len(norm_variables) == 8 * len(FrozenNorms(model).sites)  # 2 modalities x 4 weights
    tf.saved_model.save(module, str(tmp_path), signatures=module.signatures())

    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "saved_model.pb").read_bytes()).meta_graphs[0]
    kinds = [node.WhichOneof("kind") for node in saved.object_graph_def.nodes]
    assert kinds.count("variable") == len(model.variables) - len(norm_variables)
    forwards = [f for f in saved.graph_def.library.function if "_forward_" in f.signature.name]
    assert len(forwards) == 3
    for function in forwards:
        assert not any(node.op == "Rsqrt" for node in function.node_def), function.signature.name

    images = raw_images(seed=1)
    labels = tf.saved_model.load(str(tmp_path)).signatures["serving_labels"](**images)
    expected = keras_logits(module, model, ("rgb", "depth"), images)["ensemble"]
    expected = tf.argmax(tf.image.resize(expected, (24, 20), method="bilinear"), axis=-1, output_type=tf.int32)
    np.testing.assert_array_equal(labels["ensemble_labels"], expected)


def test_norms_on_the_samples_own_statistics_keep_their_variables():
    """A pix2pix generator's instance norms normalise with each image's statistics (as a
    translation run exports it): only its exchange masks become constants, its norms' weights
    stay variables."""
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, stack_streams=True)
    use_instance_statistics(generator)
    frozen = FrozenNorms(generator)
    assert frozen.sites and frozen.folded_variables == []
    for layer in generator.exchange_layers():
        for m, norm in enumerate(layer.unique_norms):
            gamma = norm.gamma.numpy()
            gamma[m::2] = 0.0
            norm.gamma.assign(gamma)
    rng = np.random.default_rng(2)
    inputs = {name: tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")) for name in ("shade", "texture")}

    @tf.function
    def frozen_call(inputs):
        with frozen.applied():
            return generator(inputs, training=False)

    graph = frozen_call.get_concrete_function(inputs).graph
    assert not any(op.type == "Abs" for op in graph.get_operations())  # no mask computed from gamma
    expected = generator(inputs, training=False)
    served = frozen_call(inputs)
    for name in expected:
        np.testing.assert_allclose(served[name], expected[name], rtol=1e-5, atol=1e-5)
