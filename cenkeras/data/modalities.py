"""Decoding image files of each modality kind, and normalising them for the network.

Reading happens in NumPy/PIL (inside `tf.numpy_function` in the pipelines),
so every unreadable or unexpected file is an error that names it. The
result is the *raw* value in float32 (8-bit values 0..255, depth in file
units), 3 channels for colour-like kinds and 1 for depth; `normalize` then
maps raw values to what the network sees, in TensorFlow, identically for
list-file data, the synthetic data and (later) the serving signature.
"""

import numpy as np
from PIL import Image, UnidentifiedImageError

from cenkeras.layers.preprocessing import DEPTH_MODES, EIGHT_BIT_KINDS, MODALITY_KINDS, ModalityPreprocessor

__all__ = ["DEPTH_MODES", "EIGHT_BIT_KINDS", "MODALITY_KINDS", "DataError", "normalize", "read_mask", "read_raw"]

# PIL modes of 16-bit single-channel images.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class DataError(ValueError):
    """A data file or list entry that cannot be used; the message names it."""

    def __init__(self, message):
        super().__init__(f"cenkeras data error: {message}")


def raw_channels(kind):
    return 1 if kind == "depth" else 3


def open_image(path):
    """PIL image with its pixels loaded; a missing or corrupt file is a DataError naming it."""
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}")
    except Image.DecompressionBombError as error:
        # A header claiming billions of pixels: a corrupt file or a decompression bomb.
        raise DataError(f"cannot read image {path}: refused to decode it, {error}")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"cannot read image {path}: {error}")
    if image.width == 0 or image.height == 0:
        raise DataError(f"image {path} is empty ({image.width}x{image.height}).")
    return image


# Channels of the file each kind takes: colour kinds also take a 1-channel file (replicated).
KIND_CHANNELS = {"rgb": 3, "hha": 3, "image": 3, "gray": 1, "depth": 1}
# Alpha channels are real channels here (an RGB-thermal frame is an "RGBA" PNG); the other
# multi-band modes are colour encodings that convert to RGB without losing a channel.
_CHANNEL_MODES = {"1": "L", "L": "L", "LA": "LA", "La": "LA", "RGBA": "RGBA", "RGBa": "RGBA", "PA": "RGBA"}


def file_pixels(image):
    """(H, W, C) uint8 with every channel an 8-bit image holds (a palette image as its colours)."""
    return np.asarray(image.convert(_CHANNEL_MODES.get(image.mode, "RGB"))).reshape(image.height, image.width, -1)


def select_channels(pixels, path, kind, channels=None, where=None):
    """The channels of `pixels` (H, W, C) that a modality of `kind` reads.

    With `channels` (indices into the file's channels) exactly those; without,
    the file must hold what the kind takes (colour kinds also take a 1-channel
    file). A file with more channels than that is an error naming it: a
    4-channel RGB-thermal frame must never lose its 4th channel silently.
    `where` names the recipe key in messages (e.g. "data.modalities.thermal").
    """
    key = f"{where}.channels" if where else "the modality's channels"
    count = pixels.shape[-1]
    if channels is not None:
        if max(channels) >= count:
            raise DataError(f"{path} has {count} channel(s); {key} asks for channels {list(channels)}.")
        return pixels[..., list(channels)]
    takes = KIND_CHANNELS[kind]
    if count == takes or (count == 1 and takes == 3):
        return pixels
    raise DataError(
        f"{path} has {count} channels but kind {kind!r} takes {takes}; set {key} to choose them "
        "(e.g. [0, 1, 2] for the colour of an RGBA or RGB-thermal frame, [3] with kind 'gray' for its "
        "4th channel) rather than drop any silently."
    )


def read_raw(path, kind, channels=None, where=None):
    """Raw float32 pixels (H, W, 3) for 8-bit kinds, (H, W, 1) for depth.

    `channels` picks channels of the file (see `select_channels`); 1-channel
    results of 8-bit kinds are replicated to 3 channels.
    """
    image = open_image(path)
    if kind == "depth":
        if image.mode not in SIXTEEN_BIT_MODES:
            raise DataError(
                f"depth image {path} has mode {image.mode}; expected a 16-bit single-channel PNG "
                "(use kind 'gray' for 8-bit depth renderings)."
            )
        if channels not in (None, (0,), [0]):
            raise DataError(f"depth image {path} has 1 channel; {where or 'the modality'} asks for {list(channels)}.")
        return np.asarray(image, dtype=np.float32)[..., None]
    if image.mode in SIXTEEN_BIT_MODES or image.mode.startswith("F"):
        raise DataError(f"image {path} is {image.mode} (16-bit or float); expected an 8-bit image.")
    pixels = select_channels(file_pixels(image), path, kind, channels, where).astype(np.float32)
    return np.repeat(pixels, 3, axis=-1) if pixels.shape[-1] == 1 else pixels


def read_mask(path):
    """Labels (H, W) uint8 from a single-channel (or palette) PNG."""
    image = open_image(path)
    if image.mode not in ("L", "P"):
        raise DataError(f"mask {path} has mode {image.mode}; masks must be single-channel 8-bit label images.")
    return np.asarray(image, dtype=np.uint8)


def normalize(raw, modality):
    """Raw values -> network input (..., H, W, 3) float32: `modality`'s `ModalityPreprocessor`.

    (For min-max depth the official code takes the range after the training
    crop; this takes it over the whole image, as serving does.)
    """
    return ModalityPreprocessor.from_modality(modality)(raw)
