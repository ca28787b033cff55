"""Decoding Taskonomy domains as the official CEN translation code does.

Every domain becomes an 8-bit, 3-channel image (the official code converts
through PIL uint8), later mapped to [-1, 1]:

- a single-channel image is replicated to 3 channels; an alpha channel is
  dropped only when it is uniform (one that varies is data: the file is an error);
- depth domains (`depth_zbuffer`, `depth_euclidean`: 16-bit) go through log(1 + v);
- domains with an official range are scaled to 0..255 by it (depth 0..11.1
  after the log, `edge_texture` 0..11355, `edge_occlusion` 0..11584);
- the result is truncated to uint8.
"""

import numpy as np

from cenkeras.data.modalities import DataError, SIXTEEN_BIT_MODES, open_image

# Official (min, max) per domain, applied after log(1 + v) for depth.
OFFICIAL_RANGES = {
    "edge_texture": (0.0, 11355.0),
    "edge_occlusion": (0.0, 11584.0),
    "depth_euclidean": (0.0, 11.1),
    "depth_zbuffer": (0.0, 11.1),
}


def decode_domain(path, domain):
    """uint8 (H, W, 3) for one domain file; errors name the file."""
    image = open_image(path)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # A uniform alpha carries nothing (the official code drops it); one that varies is data.
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() != alpha.max():
            raise DataError(
                f"{path} has {len(image.getbands())} channels and its last one varies (not a uniform alpha); "
                "translation domains take 1- or 3-channel images."
            )
    if image.mode in ("RGBA", "LA", "P", "PA", "La", "RGBa", "CMYK", "YCbCr"):
        image = image.convert("RGB")
    array = np.asarray(image)
    sixteen_bit = image.mode in SIXTEEN_BIT_MODES
    if sixteen_bit and domain not in OFFICIAL_RANGES:
        raise DataError(
            f"{path} is a 16-bit image but domain {domain!r} has no official range (known: {sorted(OFFICIAL_RANGES)})."
        )
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise DataError(f"{path}: expected a 1- or 3-channel image, got shape {array.shape}.")
    array = array.astype(np.float64)
    if "depth" in domain:
        array = np.log1p(array)
    if domain in OFFICIAL_RANGES:
        low, high = OFFICIAL_RANGES[domain]
        array = (array - low) * 255.0 / (high - low)
    return np.clip(array, 0, 255).astype(np.uint8)


def expand_template(template, domain):
    return template.replace("{domain}", domain)
