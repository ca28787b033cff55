"""The PyTorch state-dict importer, on small models and state dicts made here (no torch needed)."""

import numpy as np
import pytest

from cenkeras.interop import (
    StateDictError,
    export_torch_state_dict,
    load_torch_state_dict,
    normalize_torch_key,
)
from cenkeras.models import build_unet_generator
from harness import official_layout, random_images, tiny_network

MODALITIES = ["rgb", "depth"]


def randomized(model, seed):
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        else:
            variable.assign(rng.normal(0, 0.3, shape).astype(np.float32))
    return model


def test_key_normalization():
    assert normalize_torch_key("module.layer1.0.conv1.module.weight") == "layer1.0.conv1.weight"
    assert normalize_torch_key("conv1.module.weight") == "conv1.weight"
    assert normalize_torch_key("layer1.0.bn2.bn_1.running_var") == "layer1.0.bn2.bn_1.running_var"
    assert normalize_torch_key("alpha") == "alpha"


def test_official_layout_round_trip_reproduces_outputs():
    source = randomized(tiny_network("refinenet"), seed=1)
    state = official_layout(export_torch_state_dict(source))
    assert "module.layer1.0.conv2.module.weight" in state
    assert state["module.layer1.0.conv2.module.weight"].shape == (8, 8, 3, 3)  # OIHW
    target = tiny_network("refinenet")
    report = load_torch_state_dict(target, state)
    assert not report.missing and not report.unexpected
    for key, value in source(random_images(MODALITIES, batch=1, size=32), training=False).items():
        np.testing.assert_array_equal(
            target(random_images(MODALITIES, batch=1, size=32), training=False)[key].numpy(), value.numpy()
        )


def test_strict_load_lists_missing_and_unexpected_keys_and_changes_nothing():
    state = export_torch_state_dict(randomized(tiny_network("refinenet"), seed=2))
    del state["layer2.0.bn2.bn_1.weight"]
    state["layer9.0.conv1.weight"] = np.zeros((1,), np.float32)
    target = tiny_network("refinenet")
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(StateDictError) as error:
        load_torch_state_dict(target, state)
    message = str(error.value)
    assert "layer2.0.bn2.bn_1.weight" in message and "missing" in message
    assert "layer9.0.conv1.weight" in message and "unexpected" in message
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_shape_mismatch_always_raises():
    three = export_torch_state_dict(tiny_network("refinenet", ["rgb", "depth", "hha"]))
    with pytest.raises(StateDictError, match=r"alpha: checkpoint \(3,\)"):
        load_torch_state_dict(tiny_network("refinenet"), three, strict=False)
    state = export_torch_state_dict(tiny_network("refinenet"))
    state["clf_conv.weight"] = np.zeros((5, 16, 1, 1), np.float32)
    with pytest.raises(StateDictError, match="clf_conv.weight"):
        load_torch_state_dict(tiny_network("refinenet"), state)


def test_single_modality_state_dict_fills_every_private_norm():
    """A torchvision-style ResNet (no bn_m, an fc head, no decoder) initialises the encoder."""
    two = export_torch_state_dict(randomized(tiny_network("refinenet"), seed=3))
    single = {}
    for key, value in two.items():
        if not key.startswith(("conv1.", "bn1.", "layer")):
            continue  # a classification ResNet has no decoder
        if ".bn_1." in key or key.startswith("bn1.bn_1"):
            continue
        single[key.replace(".bn_0", "")] = value
    single["fc.weight"] = np.zeros((1000, 256), np.float32)
    single["layer1.0.bn1.num_batches_tracked"] = np.array(0)
    model = tiny_network("refinenet")
    with pytest.raises(StateDictError, match="fc.weight"):
        load_torch_state_dict(model, single)
    report = load_torch_state_dict(model, single, strict=False)
    assert report.unexpected == ["fc.weight"]
    assert "clf_conv.weight" in report.missing and "alpha" in report.missing
    assert not any(key.startswith("layer") for key in report.missing)
    site = model.get_layer("layer3.0.bn2")
    for norm in site.norms:
        np.testing.assert_array_equal(norm.gamma.numpy(), two["layer3.0.bn2.bn_0.weight"])
        np.testing.assert_array_equal(norm.moving_variance.numpy(), two["layer3.0.bn2.bn_0.running_var"])


def test_unshared_convolutions_receive_the_shared_kernel():
    state = export_torch_state_dict(randomized(tiny_network("refinenet"), seed=4))
    model = tiny_network("refinenet", share_convs=False)
    load_torch_state_dict(model, state)
    for m in range(2):
        kernel = model.get_layer(f"layer1.0.conv2.stream_{m}").kernel.numpy()
        np.testing.assert_array_equal(np.transpose(kernel, (3, 2, 0, 1)), state["layer1.0.conv2.weight"])
    with pytest.raises(ValueError, match="unshared"):
        export_torch_state_dict(model)


def test_generator_skips_known_unused_norms_and_loads_transposed_kernels():
    source = randomized(build_unet_generator(["a", "b"], filters=2), seed=5)
    state = export_torch_state_dict(source)
    assert state["deconv1.deconv.weight"].shape == (16, 16, 4, 4)  # (in, out, kH, kW)
    for module in ("conv1.insnorm_conv", "conv8.insnorm_conv", "deconv8.insnorm_deconv"):
        for m in range(2):
            state[f"{module}.insnorm_{m}.weight"] = np.ones(3, np.float32)
    target = build_unet_generator(["a", "b"], filters=2)
    report = load_torch_state_dict(target, state)
    assert len(report.skipped_unused) == 6 and not report.unexpected
    x = {n: np.random.default_rng(6).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32) for n in "ab"}
    np.testing.assert_array_equal(
        target(x, training=False)["ensemble"].numpy(), source(x, training=False)["ensemble"].numpy()
    )


def test_duplicate_keys_after_normalization_are_rejected():
    state = {"conv1.weight": np.zeros(1), "conv1.module.weight": np.zeros(1)}
    with pytest.raises(StateDictError, match="both map to 'conv1.weight'"):
        load_torch_state_dict(tiny_network("refinenet"), state)
