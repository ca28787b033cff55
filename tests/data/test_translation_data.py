"""Taskonomy-layout readers and the translation pipelines, on small files written here."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cenkeras.config import TranslationDataConfig
from cenkeras.data import DataError
from cenkeras.data.domains import decode_domain
from cenkeras.data.indexed import IndexedSamples
from cenkeras.data.translation_pipeline import (
    list_translation_dataset,
    translation_evaluation_dataset,
    translation_training_dataset,
)

DOMAINS = ("depth_euclidean", "edge_texture", "normal", "rgb")


def write_point(root, name, size=32, seed=0):
    rng = np.random.default_rng(seed)
    files = {
        "depth_euclidean": rng.integers(0, 65535, (size, size), dtype=np.uint16),
        "edge_texture": rng.integers(0, 11355, (size, size), dtype=np.uint16),
        "normal": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        "rgb": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
    }
    for domain, array in files.items():
        (root / domain).mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(root / domain / f"{name}_domain_{domain}.png")
    return files


def config_for(root, **overrides):
    config = TranslationDataConfig(
        source="list",
        root=str(root),
        train_list=str(root / "train.txt"),
        val_list=str(root / "train.txt"),
        domains=DOMAINS,
        resize=36,
        crop_size=32,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


def test_decoding_follows_the_official_code(tmp_path):
    files = write_point(tmp_path, "point_1_view_0")
    depth = decode_domain(tmp_path / "depth_euclidean" / "point_1_view_0_domain_depth_euclidean.png", "depth_euclidean")
    expected = (np.log1p(files["depth_euclidean"].astype(np.float64)) * 255.0 / 11.1).astype(np.uint8)
    np.testing.assert_array_equal(depth, np.repeat(expected[..., None], 3, -1))
    edges = decode_domain(tmp_path / "edge_texture" / "point_1_view_0_domain_edge_texture.png", "edge_texture")
    expected = (files["edge_texture"].astype(np.float64) * 255.0 / 11355.0).astype(np.uint8)
    np.testing.assert_array_equal(edges[..., 1], expected)
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    np.testing.assert_array_equal(decode_domain(tmp_path / "gray.png", "reshading"), np.repeat(gray[..., None], 3, -1))
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(tmp_path / "rgba.png")
    assert decode_domain(tmp_path / "rgba.png", "rgb").shape == (4, 4, 3)


def test_sixteen_bit_image_of_a_domain_without_range_is_an_error(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint16)).save(tmp_path / "x.png")
    with pytest.raises(DataError, match=r"x.png is a 16-bit image but domain 'rgb' has no official range"):
        decode_domain(tmp_path / "x.png", "rgb")


def test_list_file_pipeline_in_unit_range_and_jointly_cropped(tmp_path):
    write_point(tmp_path, "point_1_view_0", seed=1)
    write_point(tmp_path, "point_2_view_3", seed=2)
    (tmp_path / "train.txt").write_text(
        "{domain}/point_1_view_0_domain_{domain}.png\n{domain}/point_2_view_3_domain_{domain}.png\n"
    )
    config = config_for(tmp_path)
    raw, count = list_translation_dataset(config.train_list, config)
    assert count == 2
    inputs, target = next(iter(translation_training_dataset(raw, config, batch_size=2, seed=0)))
    assert set(inputs) == {"depth_euclidean", "edge_texture", "normal"} and target.shape == (2, 32, 32, 3)
    for image in [*inputs.values(), target]:
        assert -1.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 1.0
    inputs, target = next(iter(translation_evaluation_dataset(raw, config, batch_size=1)))
    assert target.shape == (1, 32, 32, 3)


def test_same_image_in_every_domain_stays_identical_after_augmentation(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    raw = IndexedSamples(tf.constant([0]), lambda _: {d: tf.constant(image) for d in ("a", "b", "c")})
    config = TranslationDataConfig(domains=("a", "b", "c"), resize=48, crop_size=32)
    for seed in range(3):
        inputs, target = next(iter(translation_training_dataset(raw, config, batch_size=1, seed=seed)))
        np.testing.assert_array_equal(inputs["a"].numpy(), target.numpy())
        np.testing.assert_array_equal(inputs["b"].numpy(), target.numpy())


def test_list_errors_name_line_and_file(tmp_path):
    write_point(tmp_path, "point_1_view_0")
    config = config_for(tmp_path)
    (tmp_path / "train.txt").write_text("{domain}/point_1_view_0_domain_{domain}.png\nrgb/plain.png\n")
    with pytest.raises(DataError, match=r"train.txt:2: .* has no '\{domain\}' placeholder"):
        list_translation_dataset(config.train_list, config)
    (tmp_path / "normal" / "point_1_view_0_domain_normal.png").unlink()
    (tmp_path / "train.txt").write_text("{domain}/point_1_view_0_domain_{domain}.png\n")
    with pytest.raises(DataError, match=r"train.txt:1: normal file not found"):
        list_translation_dataset(config.train_list, config)


def test_corrupt_domain_file_is_named(tmp_path):
    write_point(tmp_path, "point_1_view_0")
    (tmp_path / "rgb" / "point_1_view_0_domain_rgb.png").write_bytes(b"garbage")
    (tmp_path / "train.txt").write_text("{domain}/point_1_view_0_domain_{domain}.png\n")
    config = config_for(tmp_path)
    raw, _ = list_translation_dataset(config.train_list, config)
    with pytest.raises(tf.errors.OpError, match=r"cannot read image .*point_1_view_0_domain_rgb.png"):
        list(raw)


def test_a_domain_file_with_a_fourth_channel_of_data_is_an_error(tmp_path):
    """A uniform alpha is dropped (it holds nothing); a 4th channel with data never vanishes silently."""
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 4), dtype=np.uint8)
    opaque = pixels.copy()
    opaque[..., 3] = 255
    Image.fromarray(opaque, mode="RGBA").save(tmp_path / "opaque.png")
    np.testing.assert_array_equal(decode_domain(tmp_path / "opaque.png", "rgb"), pixels[..., :3])
    Image.fromarray(pixels, mode="RGBA").save(tmp_path / "rgbt.png")
    with pytest.raises(DataError, match=r"rgbt.png has 4 channels and its last one varies"):
        decode_domain(tmp_path / "rgbt.png", "rgb")
