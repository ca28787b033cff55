"""`lone_norms`: a modality running alone normalises with norms of its own, everywhere else the
network is unchanged; the norms travel through saving, PyTorch files and the serving graphs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from harness import random_images, trained_looking

from cenkeras.config import ConfigError, Recipe
from cenkeras.data.pipeline import preprocessors
from cenkeras.interop import export_torch_state_dict, load_torch_state_dict
from cenkeras.layers import ChannelExchange, ParallelNormalization
from cenkeras.models import build_refinenet, build_unet_generator, tiny_options
from cenkeras.serving.export import SegmentationServing
from cenkeras.serving.frozen_norms import FrozenNorms


def lone_refinenet(stack=True, lone=True, seed=0):
    keras.utils.set_random_seed(seed)
    return build_refinenet(50, 5, ["rgb", "depth"], stack_streams=stack, lone_norms=lone, **tiny_options())


def test_a_lone_stream_uses_its_own_norms_and_nothing_else_changes():
    layer = ChannelExchange(2, lone_norms=True)
    xs = [np.random.default_rng(m).normal(size=(2, 4, 4, 6)).astype("float32") for m in range(2)]
    layer(xs, training=False)
    assert [n.name for n in layer.alone_norms] == ["bn_0_alone", "bn_1_alone"]
    # Not L1-sparsified: their channels are given to no one.
    assert all(n.gamma_regularizer is None for n in layer.alone_norms)
    together = [np.asarray(y) for y in layer(xs, training=False)]
    alone = np.asarray(layer([xs[1]], training=False, present=(1,))[0])
    layer.alone_norms[1].gamma.assign(np.full(6, 3.0, "float32"))
    layer.alone_norms[1].beta.assign(np.full(6, 0.5, "float32"))
    np.testing.assert_allclose(layer([xs[1]], training=False, present=(1,))[0], 3.0 * alone + 0.5, rtol=1e-5)
    for before, after in zip(together, layer(xs, training=False)):
        np.testing.assert_array_equal(before, after)
    # Training a lone stream moves its own running statistics only.
    means = [np.asarray(n.moving_mean) for n in layer.norms + layer.alone_norms]
    layer([xs[0] + 5.0], training=True, present=(0,))
    moved = [not np.allclose(m, n.moving_mean) for m, n in zip(means, layer.norms + layer.alone_norms)]
    assert moved == [False, False, True, False]
    clone = ChannelExchange.from_config(layer.get_config())
    assert clone.lone_norms and len(clone.alone_norms) == 2
    assert not ParallelNormalization(1, lone_norms=True).lone_norms  # nothing to miss with one modality


@pytest.mark.parametrize("stack", [False, True])
def test_subsets_run_on_the_lone_norms_and_the_full_set_does_not(stack):
    model = trained_looking(lone_refinenet(stack))
    plain = build_refinenet(50, 5, ["rgb", "depth"], stack_streams=stack, **tiny_options())
    plain.set_weights([v for v in model.weights if "_alone" not in v.path])
    x = random_images(["rgb", "depth"])
    full, reference = model(x), plain(x)
    for name in full:
        np.testing.assert_allclose(full[name], reference[name], rtol=1e-5, atol=1e-5)
    for name in ("rgb", "depth"):
        lone, shared = model.subset([name])({name: x[name]}), plain.subset([name])({name: x[name]})
        assert np.abs(np.asarray(lone[name]) - np.asarray(shared[name])).max() > 1e-2
    # The lone norms count a few parameters per channel of every site.
    extra = sum(v.numpy().size for v in model.weights if "_alone" in v.path)
    assert 0 < extra == sum(v.numpy().size for v in model.weights) - sum(v.numpy().size for v in plain.weights)


def test_only_the_lone_norms_of_the_present_modality_learn():
    model = lone_refinenet()
    alone = model.subset(["depth"])
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(alone(random_images(["depth"]), training=True)["depth"] ** 2)
    site = model.get_layer("layer1.0.bn2")
    variables = [site.norms[1].gamma, site.alone_norms[0].gamma, site.alone_norms[1].gamma]
    shared_depth, lone_rgb, lone_depth = tape.gradient(loss, variables)
    assert shared_depth is None and lone_rgb is None and np.abs(lone_depth).sum() > 0


def test_files_and_pytorch_state_dicts_carry_the_lone_norms(tmp_path):
    model = trained_looking(lone_refinenet(seed=1), seed=1)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    x = random_images(["depth"], seed=3)
    np.testing.assert_allclose(loaded.subset(["depth"])(x)["depth"], model.subset(["depth"])(x)["depth"], atol=1e-5)
    state = export_torch_state_dict(model)
    assert "layer1.0.bn2.bn_1_alone.weight" in state
    twin = lone_refinenet(seed=2)
    load_torch_state_dict(twin, state)
    np.testing.assert_allclose(twin.subset(["depth"])(x)["depth"], model.subset(["depth"])(x)["depth"], atol=1e-5)
    # A file without them (an official checkpoint, ImageNet weights): each lone norm starts from
    # the norm its modality uses with its partners.
    official = {key: value for key, value in state.items() if "_alone" not in key}
    fresh = lone_refinenet(seed=3)
    load_torch_state_dict(fresh, official)
    site = fresh.get_layer("layer1.0.bn2")
    for m in range(2):
        np.testing.assert_array_equal(site.alone_norms[m].gamma, site.norms[m].gamma)
        np.testing.assert_array_equal(site.alone_norms[m].moving_variance, site.norms[m].moving_variance)


@pytest.mark.parametrize("stack", [False, True])
def test_serving_graphs_use_the_lone_norms_for_each_single_modality(stack):
    model = lone_refinenet(stack)
    module = SegmentationServing(model, preprocessors(Recipe().data))
    trained_looking(model)  # after the module is made: the graphs take the values of trace time
    assert {id(v) for v in FrozenNorms(model).folded_variables} >= {id(v) for v in model.weights if "_alone" in v.path}
    rng = np.random.default_rng(0)
    images = {
        "rgb": tf.constant(rng.integers(0, 256, (2, 24, 20, 3), dtype=np.uint8)),
        "depth": tf.constant(rng.integers(0, 40000, (2, 24, 20, 1), dtype=np.uint16)),
    }
    for names in (("rgb",), ("depth",), ("rgb", "depth")):
        served = module._forwards.value[names]({n: images[n] for n in names})
        inputs = {n: module.preprocessors[n](images[n]) for n in names}
        expected = model.subset(list(names))(inputs, training=False)
        np.testing.assert_allclose(served["ensemble"], expected["ensemble"], rtol=1e-5, atol=1e-5)


def test_a_savedmodel_serves_each_single_modality_on_its_lone_norms(tmp_path):
    """The SavedModel's `serving_<modality>` signatures, loaded back, compute the subset model's
    probabilities on its lone norms (their values as constants: no norm variable is saved)."""
    from cenkeras.serving.export import serving_call

    model = trained_looking(lone_refinenet(stack=True, seed=4), seed=4)
    module = SegmentationServing(model, preprocessors(Recipe().data))
    tf.saved_model.save(module, str(tmp_path / "1"), signatures=module.signatures())
    loaded = tf.saved_model.load(str(tmp_path / "1"))
    rng = np.random.default_rng(1)
    images = {
        "rgb": rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
        "depth": rng.integers(0, 40000, (2, 32, 32, 1), dtype=np.uint16),
    }
    for name in ("rgb", "depth"):
        served = serving_call(loaded.signatures[f"serving_{name}"], **{name: images[name]})
        logits = model.subset([name])({name: module.preprocessors[name](images[name])}, training=False)
        expected = tf.nn.softmax(tf.image.resize(logits["ensemble"], (32, 32), method="bilinear"), axis=-1)
        np.testing.assert_allclose(served["ensemble_probabilities"], expected, atol=1e-5)


def test_the_generator_takes_lone_norms_in_encoder_and_decoder():
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, lone_norms=True)
    sites = [layer for layer in generator._flatten_layers() if isinstance(layer, ParallelNormalization)]
    assert sites and all(len(site.alone_norms) == 2 for site in sites)
    out = generator.subset(["texture"])(random_images(["texture"], size=32))
    assert out["texture"].shape == (2, 32, 32, 3)


def test_a_recipe_with_lone_norms_and_nothing_to_train_them_is_refused():
    recipe = Recipe()
    recipe.model.lone_norms = True
    with pytest.raises(ConfigError, match="model.lone_norms=true needs train.modality_dropout > 0"):
        recipe.validate()
    recipe.train.modality_dropout = 0.3
    recipe.validate()
    recipe.train.modality_dropout = 0.0
    recipe.train.lone_weight = 1.0
    recipe.validate()
    recipe.train.lone_distillation = 1.0
    recipe.validate()
    recipe.train.modality_dropout = 0.3
    with pytest.raises(ConfigError, match="set one of them"):
        recipe.validate()
    recipe.train.modality_dropout = 0.0
    recipe.train.lone_weight = 0.0
    with pytest.raises(ConfigError, match="train.lone_distillation needs train.lone_weight > 0"):
        recipe.validate()


def test_lone_weights_name_modalities_that_weigh_their_lone_pass_apart():
    """`train.lone_weights=depth:0.6` gives depth another lone weight than `train.lone_weight`; a
    malformed item, a name that is not an input, or a name given twice is an error naming it."""
    from cenkeras.config import apply_overrides
    from cenkeras.config.training import lone_weights
    from cenkeras.tasks.subset_training import LoneModels

    recipe = apply_overrides(Recipe(), ["train.lone_weight=0.3", "train.lone_weights=depth:0.6"])
    assert lone_weights(recipe.train, ["rgb", "depth"]) == {"rgb": 0.3, "depth": 0.6}
    recipe = apply_overrides(Recipe(), ["train.lone_weights=depth:0.5", "train.lone_distillation=0.3"])
    assert lone_weights(recipe.train, ["rgb", "depth"]) == {"rgb": 0.0, "depth": 0.5}
    for items, message in (
        ("depth=0.6", "expected modality:weight items"),
        ("depth:much", "expected modality:weight items"),
        ("depth:-1", r"train.lone_weights\[depth\] must be a finite number >= 0"),
        ("depth:0.5,depth:0.6", "names 'depth' twice"),
        ("thermal:0.5", r"names \['thermal'\], not inputs of this recipe \(have \['rgb', 'depth'\]\)"),
    ):
        with pytest.raises(ConfigError, match=message):
            apply_overrides(Recipe(), [f"train.lone_weights={items}"])
    with pytest.raises(ConfigError, match="train.lone_distillation needs train.lone_weight > 0"):
        apply_overrides(Recipe(), ["train.lone_weights=depth:0", "train.lone_distillation=0.3"])
    with pytest.raises(ConfigError, match="set one of them"):
        apply_overrides(Recipe(), ["train.lone_weights=depth:0.5", "train.modality_dropout=0.2"])

    # A modality of weight 0 has no lone pass.
    model = build_refinenet(50, 4, ["rgb", "depth"], **tiny_options())
    lone = LoneModels(model, {"rgb": 0.0, "depth": 0.6})
    assert [list(m.modalities) for m in lone.models] == [["depth"]] and lone.weights == [0.6]
    with pytest.raises(ValueError, match=r"Lone weights for \['thermal'\]"):
        LoneModels(model, {"thermal": 1.0})


def test_a_lone_discriminator_without_lone_passes_is_refused():
    """`train.lone_discriminator` (translation) judges the lone passes' images: without lone
    passes there are none, and the recipe says which key to set."""
    from cenkeras.config import apply_overrides
    from cenkeras.experiments.recipe_files import load_recipe

    judged = ["train.lone_weight=0.3", "train.lone_discriminator=true"]
    assert apply_overrides(load_recipe("synthetic_translation"), judged).train.lone_discriminator is True
    with pytest.raises(ConfigError, match="train.lone_discriminator needs train.lone_weight > 0"):
        apply_overrides(load_recipe("synthetic_translation"), judged[1:])
