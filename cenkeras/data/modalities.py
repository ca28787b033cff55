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


def read_raw(path, kind):
    """Raw float32 pixels (H, W, 3) for 8-bit kinds, (H, W, 1) for depth."""
    image = open_image(path)
    if kind == "depth":
        if image.mode not in SIXTEEN_BIT_MODES:
            raise DataError(
                f"depth image {path} has mode {image.mode}; expected a 16-bit single-channel PNG "
                "(use kind 'gray' for 8-bit depth renderings)."
            )
        return np.asarray(image, dtype=np.float32)[..., None]
    if image.mode in SIXTEEN_BIT_MODES or image.mode.startswith("F"):
        raise DataError(f"image {path} is {image.mode} (16-bit or float); expected an 8-bit image.")
    if kind == "gray":
        array = np.asarray(image.convert("L"), dtype=np.float32)[..., None]
        return np.repeat(array, 3, axis=-1)
    return np.asarray(image.convert("RGB"), dtype=np.float32)


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
