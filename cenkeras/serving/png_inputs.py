"""PNG files as served inputs: the `serving_png` signature's decoding, checked inside the graph.

TF Serving's REST API takes JSON. A raw 480x640 RGB-D frame written as
nested JSON numbers is several megabytes; the same frame as two PNG files,
base64-encoded (`{"b64": "..."}`, which TF Serving decodes to bytes before
the graph sees them), is a fraction of that. `serving_png` takes one PNG
byte string per image and modality, decodes it here as the training data
is read (8-bit colour, 16-bit depth: `cenkeras.data.modalities`), and hands
the pixels to the same serving function as `serving_default`.

A bad request fails at a check that names the input, before anything is
decoded: not a PNG, the wrong bit depth, a colour type the input does not
take (the wrong channels), images of one request that differ in size, or
a header claiming more pixels than any camera gives (a decompression bomb
would otherwise take the server's memory).
"""

import base64
from pathlib import Path

import tensorflow as tf

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Bytes 0-25 of every PNG: the magic, then the IHDR chunk's length, type, width, height, bit
# depth and colour type (PNG specification, section 11.2.2).
HEADER_BYTES = 26
# What the PNG colour types hold: 0 gray, 2 RGB, 3 palette (decoded as RGB), 4 gray + alpha, 6 RGBA.
COLOUR_TYPE_NAMES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale + alpha", 6: "RGBA"}
# PIL's limit for the training data's readers (`Image.MAX_IMAGE_PIXELS`): a larger header is refused.
MAX_PIXELS = 89_478_485


def png_layout(preprocessor):
    """`(channels decoded, PNG colour types accepted, bit depth)` for one input.

    Mirrors the file readers: colour kinds take RGB, palette or grayscale
    (replicated) files and refuse an alpha channel rather than drop it; a
    modality that selects channels (`ModalityConfig.channels`) takes files
    that hold them; depth takes 16-bit grayscale.

    Examples:
        >>> from cenkeras.layers.preprocessing import ModalityPreprocessor
        >>> png_layout(ModalityPreprocessor("depth"))
        (1, (0,), 16)
        >>> png_layout(ModalityPreprocessor("rgb"))
        (3, (0, 2, 3), 8)
    """
    if preprocessor.raw_dtype == "uint16":
        return 1, (0,), 16
    if preprocessor.channels is not None:
        top = max(preprocessor.channels)
        if top == 3:  # the 4th channel of an RGBA (RGB-thermal) file
            return 4, (6,), 8
        # Decoding to 3 channels keeps channels 0-2 of RGB(A) and replicates a gray file's channel 0.
        return 3, ((0, 2, 3, 4, 6) if top == 0 else (2, 3, 6)), 8
    if preprocessor.raw_channels == 1:
        return 1, (0,), 8
    return 3, (0, 2, 3), 8


def describe_png_input(preprocessor):
    """One line for the metadata: what PNG files an input takes."""
    channels, types, depth = png_layout(preprocessor)
    kinds = " or ".join(COLOUR_TYPE_NAMES[t] for t in types)
    selected = f", channels {list(preprocessor.channels)} read" if preprocessor.channels is not None else ""
    return f"base64 PNG string per image: {depth}-bit {kinds}{selected}"


def _big_endian(header, start):
    """The 4-byte unsigned big-endian integers at `start` of each row of `header` (B, 26) uint8."""
    digits = tf.cast(header[:, start : start + 4], tf.int64)
    return tf.reduce_sum(digits * tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64), axis=-1)


def png_header_checks(strings, name, preprocessor):
    """In-graph checks of a batch of PNG byte strings against what input `name` takes.

    (No quotes in the messages: TensorFlow escapes them in the error text.)
    """
    _, types, depth = png_layout(preprocessor)
    # Padding first: a string shorter than a header still yields one (that fails the magic check).
    padded = tf.strings.join([strings, tf.constant(b"\0" * HEADER_BYTES)])
    header = tf.io.decode_raw(tf.strings.substr(padded, 0, HEADER_BYTES), tf.uint8)
    magic = tf.constant(list(PNG_MAGIC), tf.uint8)
    is_png = tf.reduce_all(tf.equal(header[:, :8], magic), axis=-1)
    is_png &= tf.reduce_all(tf.equal(header[:, 12:16], tf.constant(list(b"IHDR"), tf.uint8)), axis=-1)
    width, height = _big_endian(header, 16), _big_endian(header, 20)
    bit_depth, colour_type = tf.cast(header[:, 24], tf.int32), tf.cast(header[:, 25], tf.int32)
    accepted = tf.reduce_any(tf.equal(colour_type[:, None], tf.constant(types, tf.int32)[None]), axis=-1)
    kinds = " or ".join(COLOUR_TYPE_NAMES[t] for t in types)
    png_checks = [
        tf.debugging.assert_positive(tf.size(strings), message=f"input {name} holds no images (batch size 0)"),
        tf.debugging.assert_equal(is_png, True, message=f"input {name} must be PNG files"),
    ]
    # The header is read only from what passed the magic check.
    with tf.control_dependencies(png_checks):
        return png_checks + [
            tf.debugging.assert_equal(bit_depth, depth, message=f"input {name} must be {depth}-bit PNGs"),
            tf.debugging.Assert(
                tf.reduce_all(accepted),
                [f"input {name} must be {kinds} PNGs (PNG colour types {list(types)}); got colour type", colour_type],
            ),
            tf.debugging.assert_positive(width * height, message=f"input {name} is empty (width or height 0)"),
            tf.debugging.assert_less_equal(
                width * height,
                tf.constant(MAX_PIXELS, tf.int64),
                message=f"input {name} claims more than {MAX_PIXELS} pixels",
            ),
            tf.debugging.assert_equal(
                tf.reduce_all((width == width[0]) & (height == height[0])),
                True,
                message=f"input {name}: the images of one request must have the same size",
            ),
        ]


def decode_png_input(strings, name, preprocessor):
    """`(B, H, W, C)` raw pixels (uint8, or uint16 for depth) from `B` PNG byte strings, checked.

    C is what `serving_default` takes for the input: a modality that selects
    channels of its files gets those.
    """
    channels, _, depth = png_layout(preprocessor)
    dtype = tf.uint16 if depth == 16 else tf.uint8
    with tf.control_dependencies(png_header_checks(strings, name, preprocessor)):
        strings = tf.identity(strings)
    images = tf.map_fn(
        lambda data: tf.io.decode_png(data, channels=channels, dtype=dtype),
        strings,
        fn_output_signature=tf.TensorSpec([None, None, channels], dtype),
    )
    if preprocessor.channels is not None:
        images = tf.gather(images, list(preprocessor.channels), axis=-1)
    return images


def png_request(signature_name="serving_png", **files):
    """A TF Serving REST predict body (a dict; `json.dumps` it) sending PNG files, one per input.

    Each value is a path or the PNG's bytes, or a list of them for a batch;
    each goes as `{"b64": ...}`, the REST API's form for binary strings.

    Examples:
        >>> png_request(depth=PNG_MAGIC)["instances"]
        [{'depth': {'b64': 'iVBORw0KGgo='}}]
    """
    columns = {name: value if isinstance(value, (list, tuple)) else [value] for name, value in files.items()}
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise ValueError(f"every input needs as many images; got { ({n: len(v) for n, v in columns.items()}) }.")
    instances = []
    for index in range(sizes.pop()):
        instance = {}
        for name, values in columns.items():
            value = values[index]
            data = value if isinstance(value, bytes) else Path(value).read_bytes()
            instance[name] = {"b64": base64.b64encode(data).decode("ascii")}
        instances.append(instance)
    return {"signature_name": signature_name, "instances": instances}
