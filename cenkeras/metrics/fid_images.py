"""How images reach the FID network: the official code's way, or directly.

The official CEN evaluation does not feed its generator's output to
Inception as it is. For each real and generated image it:

1. stretches the image to the full 0-255 range (its own minimum to 0, its
   maximum to 255, over all three channels at once) and truncates to uint8;
2. draws it with matplotlib (`imshow`, axes off, no margins) on a 5 x 5
   inch figure and saves that as a PNG at the figure's 100 dpi: a
   500 x 500 RGBA image;
3. reads the PNG back and gives its RGB channels, divided by 255, to
   pytorch-fid, which resizes them to 299 x 299.

Step 1 changes what FID sees (a dark image becomes a contrasted one) and
step 2 resamples 256 px to 500 px before Inception resamples to 299, so an
FID computed without them is not the paper's FID. `official_fid_images`
redoes the three steps in memory (same figure, same PNG); `direct_fid_images`
maps [-1, 1] to [0, 1] and nothing else.

matplotlib's default resampling changed in version 3.2 from nearest to
antialiased; the official environment's version is not pinned. cenkeras
pins `antialiased` so that its figures do not move with the matplotlib
installed.
"""

import io

import numpy as np

FID_PREPROCESSINGS = ("official", "direct")
FIGURE_INCHES = 5
FIGURE_DPI = 100
RESAMPLING = "antialiased"


def stretch_to_uint8(image):
    """The official min-max stretch: `uint8((x - min) * 255 / (max - min))`, truncating like `astype`.

    A constant image (max == min), which the official code turns into NaN,
    becomes all zeros here.
    """
    image = np.asarray(image, np.float32)
    low, high = float(image.min()), float(image.max())
    if high <= low:
        return np.zeros(image.shape, np.uint8)
    return ((image - low) * 255.0 / (high - low)).astype(np.uint8)


def render_like_official(image_uint8):
    """The PNG the official `plot_test_result_single` saves for an HxWx3 uint8 image, as HxWx3 uint8."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    # A Figure of its own (not pyplot): no global state, safe beside other plots.
    figure = Figure(figsize=(FIGURE_INCHES, FIGURE_INCHES), dpi=FIGURE_DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.axis("off")
    axes.set_adjustable("box")
    axes.imshow(image_uint8, cmap=None, aspect="equal", interpolation=RESAMPLING)
    figure.subplots_adjust(left=0, right=1, bottom=0, top=1, wspace=0, hspace=0)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    buffer.seek(0)
    with Image.open(buffer) as png:
        return np.asarray(png.convert("RGB"))


def official_fid_images(images):
    """NHWC images in [-1, 1] -> what the official evaluation gives Inception: NHWC in [0, 1], 500 x 500."""
    return np.stack([render_like_official(stretch_to_uint8(image)) for image in images]).astype(np.float32) / 255.0


def direct_fid_images(images):
    """NHWC images in [-1, 1] -> [0, 1], unchanged otherwise."""
    return (np.clip(np.asarray(images, np.float32), -1.0, 1.0) + 1.0) / 2.0


def fid_images(images, preprocessing):
    """`images` in [-1, 1] prepared for the FID network by `preprocessing` ("official" or "direct")."""
    if preprocessing == "official":
        return official_fid_images(images)
    if preprocessing == "direct":
        return direct_fid_images(images)
    raise ValueError(f"unknown FID preprocessing {preprocessing!r}; expected one of {FID_PREPROCESSINGS}")
