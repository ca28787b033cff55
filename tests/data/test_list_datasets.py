"""Reading list-file datasets: values, alignment, and every bad input a user can give."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cenkeras.data import DataError
from cenkeras.data.listfile import read_list
from cenkeras.data.pipeline import evaluation_dataset, list_raw_dataset, training_dataset

from nyud_helpers import nyud_config, write_list, write_sample

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def first(dataset):
    return next(iter(dataset))


def test_reads_official_layout_and_normalises_like_the_official_code(nyud):
    root, config, samples = nyud
    raw, count = list_raw_dataset(config.train_list, config, num_classes=5)
    assert count == 3
    inputs, mask = first(evaluation_dataset(raw, config, batch_size=1))
    rgb, depth, labels = samples[0]
    np.testing.assert_allclose(
        inputs["rgb"][0].numpy(), (rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-5, atol=1e-5
    )
    # Depth: metres (PNG / 5000) replicated to 3 channels; holes stay 0.
    expected_depth = np.repeat(depth[..., None] / 5000.0, 3, axis=-1)
    np.testing.assert_allclose(inputs["depth"][0].numpy(), expected_depth, rtol=1e-6)
    assert np.all(inputs["depth"][0].numpy()[:6, :8] == 0.0)
    np.testing.assert_array_equal(mask[0].numpy(), labels)
    assert mask[0, 0, 0] == 255


def test_space_separated_lines_comments_and_blank_lines(tmp_path):
    write_sample(tmp_path, 0)
    (tmp_path / "list.txt").write_text("# a comment\n\nrgb/000000.png   masks/000000.png \t depth/000000.png\n")
    entries = read_list(tmp_path / "list.txt", tmp_path, {"rgb": 0, "mask": 1, "depth": 2})
    assert len(entries) == 1 and entries[0].line == 3
    assert entries[0].paths["depth"] == str(tmp_path / "depth" / "000000.png")


def test_grayscale_rgb_file_becomes_three_channels(tmp_path):
    write_sample(tmp_path, 0)
    gray = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32)
    Image.fromarray(gray).save(tmp_path / "rgb" / "000000.png")
    write_list(tmp_path, "train.txt", [0])
    config = nyud_config(tmp_path)
    inputs, _ = first(evaluation_dataset(list_raw_dataset(config.train_list, config, 5)[0], config))
    rgb = inputs["rgb"][0].numpy()
    expected = (np.repeat(gray[..., None], 3, -1) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(rgb, expected, rtol=1e-5, atol=1e-5)


def test_larger_inputs_are_centre_cropped_to_the_mask(tmp_path):
    rgb, depth, _ = write_sample(tmp_path, 0, size=(20, 30), rgb_size=(24, 35), depth_size=(23, 30))
    write_list(tmp_path, "train.txt", [0])
    config = nyud_config(tmp_path)
    inputs, mask = first(evaluation_dataset(list_raw_dataset(config.train_list, config, 5)[0], config))
    assert inputs["rgb"].shape[1:3] == (20, 30) and mask.shape[1:] == (20, 30)
    expected_rgb = rgb[2:22, 2:32]  # offsets (24-20)//2, (35-30)//2
    np.testing.assert_allclose(
        inputs["rgb"][0].numpy(), (expected_rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(inputs["depth"][0, ..., 0].numpy(), depth[1:21] / 5000.0, rtol=1e-6)


def test_resize_alignment_and_reject(tmp_path):
    write_sample(tmp_path, 0, size=(20, 30), rgb_size=(10, 15), depth_size=(40, 60))
    write_list(tmp_path, "train.txt", [0])
    resized = nyud_config(tmp_path, align="resize")
    inputs, _ = first(evaluation_dataset(list_raw_dataset(resized.train_list, resized, 5)[0], resized))
    assert inputs["rgb"].shape[1:3] == (20, 30) and inputs["depth"].shape[1:3] == (20, 30)
    rejected = nyud_config(tmp_path, align="reject")
    with pytest.raises(tf.errors.OpError, match=r"rgb/000000.png is 15x10 but its mask .* is 30x20"):
        first(list_raw_dataset(rejected.train_list, rejected, 5)[0])
    cropped = nyud_config(tmp_path, align="crop")
    with pytest.raises(tf.errors.OpError, match="smaller than its mask"):
        first(list_raw_dataset(cropped.train_list, cropped, 5)[0])


def test_training_batches_are_augmented_jointly_and_reproducible(nyud):
    _, config, _ = nyud
    raw, _ = list_raw_dataset(config.train_list, config, 5)
    batches = training_dataset(raw, config, batch_size=3, seed=7)
    inputs, mask = first(batches)
    assert inputs["rgb"].shape == (3, 16, 16, 3) and mask.shape == (3, 16, 16)
    again, mask_again = first(training_dataset(raw, config, batch_size=3, seed=7))
    np.testing.assert_array_equal(inputs["rgb"].numpy(), again["rgb"].numpy())
    np.testing.assert_array_equal(mask.numpy(), mask_again.numpy())
    labels = set(np.unique(mask.numpy()))
    assert labels <= {0, 1, 2, 3, 4, 255}


# --- Bad inputs: each a clear error naming the culprit ------------------------------------------


def test_missing_file_names_list_line_and_path(nyud):
    root, config, _ = nyud
    (root / "depth" / "000001.png").unlink()
    with pytest.raises(DataError, match=r"train.txt:2: depth file not found: .*depth/000001.png"):
        list_raw_dataset(config.train_list, config, 5)


def test_missing_list_file_and_root(tmp_path):
    config = nyud_config(tmp_path)
    with pytest.raises(DataError, match="list file not found"):
        list_raw_dataset(str(tmp_path / "nope.txt"), config, 5)
    (tmp_path / "train.txt").write_text("a b c\n")
    config.root = str(tmp_path / "missing_root")
    with pytest.raises(DataError, match="dataset root is not a folder"):
        list_raw_dataset(str(tmp_path / "train.txt"), config, 5)


def test_too_few_columns_names_the_line(nyud):
    root, config, _ = nyud
    (root / "train.txt").write_text("rgb/000000.png\tmasks/000000.png\tdepth/000000.png\nrgb/000001.png\n")
    with pytest.raises(DataError, match=r"train.txt:2: expected at least 3 paths"):
        list_raw_dataset(config.train_list, config, 5)


@pytest.mark.parametrize("path", ["../outside.png", "/etc/passwd"])
def test_paths_outside_the_root_are_rejected(nyud, path):
    root, config, _ = nyud
    (root / "train.txt").write_text(f"{path}\tmasks/000000.png\tdepth/000000.png\n")
    with pytest.raises(DataError, match="train.txt:1"):
        list_raw_dataset(config.train_list, config, 5)


def test_corrupt_image_is_an_error_naming_the_file(nyud):
    root, config, _ = nyud
    (root / "rgb" / "000001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 10)
    raw, _ = list_raw_dataset(config.train_list, config, 5)
    with pytest.raises(tf.errors.OpError, match=r"cannot read image .*rgb/000001.png"):
        list(raw)


def test_truncated_png_is_an_error_naming_the_file(nyud):
    root, config, _ = nyud
    data = (root / "depth" / "000002.png").read_bytes()
    (root / "depth" / "000002.png").write_bytes(data[: len(data) // 2])
    raw, _ = list_raw_dataset(config.train_list, config, 5)
    with pytest.raises(tf.errors.OpError, match=r"depth/000002.png"):
        list(raw)


def test_label_out_of_range_is_an_error_or_mapped_to_ignore(tmp_path):
    labels = np.full((24, 32), 2, np.uint8)
    labels[5, 5] = 7  # >= num_classes (5), not the ignore label
    write_sample(tmp_path, 0, labels=labels)
    write_list(tmp_path, "train.txt", [0])
    config = nyud_config(tmp_path)
    with pytest.raises(tf.errors.OpError, match=r"masks/000000.png has labels \[7\] >= num_classes \(5\)"):
        first(list_raw_dataset(config.train_list, config, 5)[0])
    config.out_of_range = "ignore"
    _, mask = first(list_raw_dataset(config.train_list, config, 5)[0])
    assert mask.numpy()[5, 5] == 255 and mask.numpy()[6, 6] == 2


def test_sixteen_bit_image_where_eight_bit_is_expected(nyud):
    root, config, _ = nyud
    Image.fromarray(np.full((24, 32), 1000, np.uint16)).save(root / "rgb" / "000000.png")
    with pytest.raises(tf.errors.OpError, match=r"rgb/000000.png is I;16.*expected an 8-bit image"):
        first(list_raw_dataset(config.train_list, config, 5)[0])


def test_eight_bit_depth_is_rejected(nyud):
    root, config, _ = nyud
    Image.fromarray(np.full((24, 32), 10, np.uint8)).save(root / "depth" / "000000.png")
    with pytest.raises(tf.errors.OpError, match=r"depth image .*depth/000000.png has mode L"):
        first(list_raw_dataset(config.train_list, config, 5)[0])


def test_colour_mask_is_rejected(nyud):
    root, config, _ = nyud
    Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(root / "masks" / "000000.png")
    with pytest.raises(tf.errors.OpError, match=r"mask .*masks/000000.png has mode RGB"):
        first(list_raw_dataset(config.train_list, config, 5)[0])


def _rgbt_dataset(tmp_path):
    """One 4-channel (RGB + thermal) PNG per frame, as RGB-thermal sets ship them, and its list."""
    _, _, mask = write_sample(tmp_path, 0)
    rgbt = np.random.default_rng(3).integers(0, 256, (24, 32, 4), dtype=np.uint8)
    (tmp_path / "rgbt").mkdir()
    Image.fromarray(rgbt, mode="RGBA").save(tmp_path / "rgbt" / "000000.png")
    (tmp_path / "train.txt").write_text("rgbt/000000.png\tmasks/000000.png\trgbt/000000.png\n")
    return rgbt, mask


def test_a_four_channel_file_is_read_as_two_modalities_by_channel_selection(tmp_path):
    from cenkeras.config import ModalityConfig

    rgbt, _ = _rgbt_dataset(tmp_path)
    modalities = {
        "rgb": ModalityConfig(kind="rgb", column=0, channels=(0, 1, 2)),
        "thermal": ModalityConfig(kind="gray", column=2, channels=(3,), mean=(0.5,) * 3, std=(0.25,) * 3),
    }
    config = nyud_config(tmp_path, modalities=modalities, val_list=str(tmp_path / "train.txt"))
    inputs, _ = first(evaluation_dataset(list_raw_dataset(config.train_list, config, 5)[0], config))
    np.testing.assert_allclose(
        inputs["rgb"][0].numpy(), (rgbt[..., :3] / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, rtol=1e-5, atol=1e-5
    )
    thermal = np.repeat(rgbt[..., 3:], 3, axis=-1) / 255.0
    np.testing.assert_allclose(inputs["thermal"][0].numpy(), (thermal - 0.5) / 0.25, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kind, channels, message",
    [
        ("rgb", None, r"has 4 channels but kind 'rgb' takes 3; set data.modalities.rgb.channels"),
        ("rgb", (2, 3, 4), r"has 4 channel\(s\); data.modalities.rgb.channels asks for channels \[2, 3, 4\]"),
        ("gray", None, r"has 4 channels but kind 'gray' takes 1"),
    ],
)
def test_a_four_channel_file_never_loses_a_channel_silently(tmp_path, kind, channels, message):
    from cenkeras.config import ModalityConfig

    _rgbt_dataset(tmp_path)
    modalities = {"rgb": ModalityConfig(kind=kind, column=0, channels=channels)}
    config = nyud_config(tmp_path, modalities=modalities)
    raw, _ = list_raw_dataset(config.train_list, config, 5)
    with pytest.raises(tf.errors.OpError, match=message) as error:
        first(raw.dataset())
    assert "rgbt/000000.png" in str(error.value)


def test_channel_selection_is_checked_against_the_kind():
    from cenkeras.config import ConfigError, ModalityConfig

    with pytest.raises(ConfigError, match=r"data.modalities.thermal.channels must be 1 channel"):
        ModalityConfig(kind="gray", channels=(2, 3)).validate("thermal")
    with pytest.raises(ConfigError, match=r"data.modalities.depth.channels: a 16-bit depth PNG has only channel 0"):
        ModalityConfig(kind="depth", channels=(1,)).validate("depth")
