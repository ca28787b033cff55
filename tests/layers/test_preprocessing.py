"""ModalityPreprocessor: the numbers of every kind, per-image min-max, serialization, errors."""

import numpy as np
import pytest

from cenkeras.config import ModalityConfig
from cenkeras.layers.preprocessing import PREPROCESSING_KINDS, ModalityPreprocessor
from cenkeras.models import build_refinenet, tiny_options

MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def test_every_kind_gives_the_official_numbers():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (2, 5, 6, 3)).astype(np.float32)
    gray = rng.integers(0, 256, (2, 5, 6, 1)).astype(np.float32)
    depth = rng.integers(0, 40000, (2, 5, 6, 1)).astype(np.float32)
    for kind in ("rgb", "hha", "image"):
        expected = (colour / 255 - MEAN) / STD
        np.testing.assert_allclose(ModalityPreprocessor(kind)(colour), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        ModalityPreprocessor("gray")(gray), (np.repeat(gray, 3, -1) / 255 - MEAN) / STD, rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        ModalityPreprocessor("depth", scale=1 / 5000)(depth), np.repeat(depth / 5000, 3, -1), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(ModalityPreprocessor("domain")(colour), colour / 127.5 - 1, atol=1e-6)


def test_minmax_depth_is_per_image_batched_or_not():
    depth = np.stack([np.full((4, 4, 1), 1000.0), np.full((4, 4, 1), 9000.0)])
    depth[0, 0, 0, 0], depth[1, 0, 0, 0] = 3000.0, 1000.0
    layer = ModalityPreprocessor("depth", depth_mode="minmax")
    batched = np.asarray(layer(depth))
    for index in range(2):
        single = np.asarray(layer(depth[index]))
        np.testing.assert_allclose(batched[index], single)
        assert single.min() == 0.0 and single.max() == pytest.approx(255.0)


def test_domain_round_trips_through_uint8():
    layer = ModalityPreprocessor("domain")
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
    np.testing.assert_array_equal(np.asarray(layer.to_uint8(layer(pixels))), pixels)


@pytest.mark.parametrize("kind", PREPROCESSING_KINDS)
def test_config_round_trip_and_raw_inputs(kind):
    layer = ModalityPreprocessor(kind, mean=(0.5, 0.5, 0.5), std=(0.1, 0.2, 0.3), scale=1e-3, depth_mode="scale")
    again = ModalityPreprocessor.from_config(layer.get_config())
    assert again.options() == layer.options()
    assert (layer.raw_dtype, layer.raw_channels) == {"depth": ("uint16", 1), "gray": ("uint8", 1)}.get(
        kind, ("uint8", 3)
    )


def test_bad_values_are_named():
    with pytest.raises(ValueError, match="kind must be one of"):
        ModalityPreprocessor("thermal")
    with pytest.raises(ValueError, match="depth_mode must be one of"):
        ModalityPreprocessor("depth", depth_mode="log")
    with pytest.raises(ValueError, match="std > 0"):
        ModalityPreprocessor("rgb", std=(0.2, 0.0, 0.2))


def test_a_model_keeps_its_preprocessing_through_its_config():
    preprocessing = {
        "rgb": ModalityPreprocessor("hha"),
        "depth": ModalityPreprocessor.from_modality(ModalityConfig(kind="depth", depth_mode="minmax")),
    }
    model = build_refinenet(50, 3, ["rgb", "depth"], preprocessing=preprocessing, **tiny_options())
    again = type(model).from_config(model.get_config())
    assert {n: p.options() for n, p in again.preprocessors().items()} == {
        n: p.options() for n, p in preprocessing.items()
    }
    assert build_refinenet(50, 3, ["rgb", "depth"], **tiny_options()).preprocessors() is None
    with pytest.raises(ValueError, match="preprocessing must name the modalities"):
        build_refinenet(50, 3, ["rgb", "depth"], preprocessing={"rgb": ModalityPreprocessor()}, **tiny_options())
