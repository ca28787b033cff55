"""Property-based fuzzing of what users type and write: every bad input is a cenkeras error.

Bounded (FUZZ_EXAMPLES per property, no deadline) so the suite stays fast; the
count of cases run is printed by `pytest -s` through hypothesis' statistics
(`--hypothesis-show-statistics`). Longer campaigns set CENKERAS_FUZZ_EXAMPLES
and CENKERAS_FUZZ_SERVING_EXAMPLES.
"""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cenkeras import config as config_lib
from cenkeras.data.listfile import read_list, resolve_path
from cenkeras.data.modalities import DataError
from cenkeras.experiments.recipe_files import load_recipe

sys.path.insert(0, str(Path(__file__).parent / "tasks"))  # tiny_recipe

FUZZ_EXAMPLES = int(os.environ.get("CENKERAS_FUZZ_EXAMPLES", 300))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
COLUMNS = {"rgb": 0, "mask": 1, "depth": 2}

# Keys that exist, so that the fuzzer also reaches the value parsers, not only "unknown key".
KNOWN_KEYS = [
    "train.epochs",
    "train.lr_encoder",
    "train.batch_size",
    "train.precision",
    "model.exchange",
    "model.threshold",
    "data.crop_size",
    "data.modalities.depth.scale",
    "train.freeze_bn",
    "model.stage_blocks",
    "data.source",
    "eval.scales",
]


@FUZZ
@given(
    key=st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=30)),
    value=st.text(max_size=40),
    separator=st.sampled_from(["=", "", "==", " = "]),
)
def test_override_parser_accepts_or_names_the_problem(key, value, separator):
    """An accepted override holds, at its key, the value given; a refused one is a ConfigError that
    names the key (or the key=value form); nothing else escapes."""
    from cenkeras.config.listing import settable_lines
    from cenkeras.config.saved import current_key

    recipe = load_recipe("synthetic_rgbd")
    item = f"{key}{separator}{value}"
    try:
        config_lib.apply_overrides(recipe, [item])
    except config_lib.ConfigError as error:
        message, name = str(error), item.split("=", 1)[0].strip()
        named = [name, name.split(".")[0]]
        assert "must look like key=value" in message or any(repr(n)[1:-1] in message for n in named), message
        return
    # Accepted: the value the recipe now shows at the key, set on a fresh recipe, gives the same
    # recipe (the override reached its key, not another, and kept what it was given).
    name = current_key(item.split("=", 1)[0].strip())
    shown = dict(line.split("=", 1) for line in settable_lines(recipe) if not line.startswith("#"))
    again = config_lib.apply_overrides(load_recipe("synthetic_rgbd"), [f"{name}={shown[name]}"])
    assert config_lib.to_dict(again) == config_lib.to_dict(recipe)


@FUZZ
@given(content=st.binary(max_size=400))
def test_list_file_parser_reads_or_names_the_file(tmp_path, content):
    list_file = tmp_path / "list.txt"
    list_file.write_bytes(content)
    try:
        entries = read_list(list_file, tmp_path, COLUMNS)
    except DataError as error:
        assert str(list_file) in str(error)
    else:
        for entry in entries:  # whatever was accepted stays under the root
            for path in entry.paths.values():
                assert _inside(path, tmp_path)


PATH_PIECES = ["a", "b", ".", "..", "/", "\\", "~", ":", " ", "/etc", "C:"]


@FUZZ
@given(relative=st.lists(st.sampled_from(PATH_PIECES), max_size=12).map("".join))
def test_resolved_paths_never_leave_the_root(tmp_path, relative):
    try:
        path = resolve_path(tmp_path, relative, "fuzz:1")
    except DataError as error:
        assert "fuzz:1" in str(error)
    else:
        assert _inside(path, tmp_path)


def _inside(path, root):
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root


MODES = ["L", "P", "RGB", "RGBA", "LA", "I;16", "I", "F", "1", "CMYK"]


def _png_bytes(mode, width, height, seed):
    import io

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode in ("CMYK", "I", "F") else "PNG")  # PNG cannot hold these
    return buffer.getvalue()


def _with_ihdr_size(png, width, height):
    """The PNG with its header claiming another size (CRC fixed): e.g. a decompression bomb."""
    import struct
    import zlib

    start = 8  # signature; the IHDR chunk follows: length, b"IHDR", data (13 bytes), crc
    data = struct.pack(">II", width, height) + png[start + 16 : start + 8 + 13]
    chunk = b"IHDR" + data
    return png[:start] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[start + 25 :]


@FUZZ
@given(
    mode=st.sampled_from(MODES),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    seed=st.integers(0, 99),
    damage=st.sampled_from(["none", "truncate", "flip", "huge", "zero", "empty"]),
    cut=st.floats(0.0, 1.0),
    kind=st.sampled_from(["rgb", "gray", "depth", "mask"]),
)
def test_image_decoders_read_or_name_the_file(tmp_path, mode, width, height, seed, damage, cut, kind):
    from cenkeras.data.modalities import read_mask, read_raw

    data = _png_bytes(mode, width, height, seed)
    if damage == "truncate":
        data = data[: int(len(data) * cut)]
    elif damage == "flip":
        index = int((len(data) - 1) * cut)
        data = data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]
    elif damage == "huge" and data.startswith(b"\x89PNG"):
        data = _with_ihdr_size(data, 200_000, 200_000)
    elif damage == "zero" and data.startswith(b"\x89PNG"):
        data = _with_ihdr_size(data, 0, height)
    elif damage == "empty":
        data = b""
    path = tmp_path / "image.png"
    path.write_bytes(data)
    try:
        array = read_mask(path) if kind == "mask" else read_raw(path, kind)
    except DataError as error:
        assert str(path) in str(error)
    else:
        assert array.ndim == (2 if kind == "mask" else 3) and array.size > 0
        assert array.shape[-1] == {"rgb": 3, "gray": 3, "depth": 1}.get(kind, array.shape[-1])


# Each case runs the exported network, up to 2000 x 2000 pixels.
SERVING_EXAMPLES = int(os.environ.get("CENKERAS_FUZZ_SERVING_EXAMPLES", 40))


@pytest.fixture(scope="module")
def exported_segmenter(tmp_path_factory):
    """A tiny segmenter exported with cenkeras' serving signature (random weights)."""
    import tensorflow as tf

    from cenkeras.serving.export import SegmentationServing
    from cenkeras.tasks.segmentation_run import build_segmenter
    from tiny_recipe import tiny_recipe

    recipe = tiny_recipe()
    module = SegmentationServing(build_segmenter(recipe))
    path = tmp_path_factory.mktemp("serving") / "1"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return tf.saved_model.load(str(path)).signatures["serving_default"]


SIZES = st.one_of(st.sampled_from([1, 2, 3, 7, 2000]), st.integers(1, 96))


@settings(max_examples=SERVING_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=SIZES,
    width=SIZES,
    batch=st.integers(0, 2),
    rgb=st.sampled_from([("uint8", 3), ("uint8", 1), ("uint8", 4), ("float32", 3), ("uint16", 3)]),
    depth=st.sampled_from([("uint16", 1), ("uint16", 3), ("uint8", 1), ("int32", 1)]),
    drop=st.sampled_from([None, "rgb", "depth"]),
    depth_wider=st.sampled_from([0, 0, 0, 1]),
)
@example(height=2000, width=2000, batch=1, rgb=("uint8", 3), depth=("uint16", 1), drop=None, depth_wider=0)
@example(height=1, width=1, batch=2, rgb=("uint8", 3), depth=("uint16", 1), drop=None, depth_wider=0)
@example(height=1, width=2000, batch=1, rgb=("uint8", 3), depth=("uint16", 1), drop=None, depth_wider=0)
def test_serving_signature_answers_or_names_the_input(
    exported_segmenter, height, width, batch, rgb, depth, drop, depth_wider
):
    import numpy as np

    from cenkeras.serving.export import serving_call

    if height * width > 400_000 and batch > 1:
        batch = 1  # keeps the large cases' memory small
    images = {
        "rgb": np.zeros((batch, height, width, rgb[1]), rgb[0]),
        "depth": np.full((batch, height, width + depth_wider, depth[1]), 100, depth[0]),
    }
    if drop:
        del images[drop]
    valid = drop is None and rgb == ("uint8", 3) and depth == ("uint16", 1) and not depth_wider
    try:
        outputs = serving_call(exported_segmenter, **images)
    except ValueError as error:
        assert not valid or batch == 0, error  # every valid request is answered, 1x1 to 2000x2000
        assert any(name in str(error) for name in ("rgb", "depth")), error  # names the culprit
    else:
        assert valid
        labels = outputs["ensemble_labels"].numpy()
        assert labels.shape == (batch, height, width)
        assert labels.min(initial=0) >= 0 and labels.max(initial=0) < 6


@settings(max_examples=SERVING_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    height=st.one_of(st.just(0), SIZES),
    width=SIZES,
    batch=st.integers(0, 2),
    depth_wider=st.sampled_from([0, 0, 1]),
    depth_taller=st.sampled_from([0, 0, 1]),
)
@example(height=5, width=5, batch=0, depth_wider=0, depth_taller=0)
@example(height=0, width=5, batch=1, depth_wider=0, depth_taller=0)
def test_raw_serving_signature_names_the_input_in_graph(
    exported_segmenter, height, width, batch, depth_wider, depth_taller
):
    """Called as TF Serving calls it (no serving_call in front): an empty batch, an empty image or
    inputs of different sizes fail inside the graph with a message naming the input."""
    import numpy as np
    import tensorflow as tf

    if height * width > 400_000 and batch > 1:
        batch = 1
    rgb = tf.zeros((batch, height, width, 3), tf.uint8)
    depth = tf.fill((batch, height + depth_taller, width + depth_wider, 1), tf.constant(100, tf.uint16))
    valid = batch > 0 and height > 0 and not (depth_wider or depth_taller)
    try:
        outputs = exported_segmenter(rgb=rgb, depth=depth)
    except tf.errors.InvalidArgumentError as error:
        assert not valid, error
        assert "assertion failed: [input rgb" in error.message or "assertion failed: [input depth" in error.message, (
            error.message
        )
    else:
        assert valid
        assert np.asarray(outputs["ensemble_labels"]).shape == (batch, height, width)
