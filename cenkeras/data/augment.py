"""Joint augmentation of all modalities and the mask, as the official training does it.

Order and values follow the official transforms: random scale in
[low, high] with the shorter side kept >= `shorter_side`, pad to the crop
size (0 for normalised images, the ignore label for the mask), random
mirror, random crop. Colour-like images are resized bicubically, depth and
masks with nearest neighbour. Randomness is stateless (`seed`, a shape-[2]
int tensor), so a pipeline with a fixed seed is reproducible.
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class AugmentOptions:
    crop_size: int = 500
    shorter_side: int = 350
    low_scale: float = 0.5
    high_scale: float = 2.0
    mirror: bool = True
    ignore_label: int = 255


def _resize(image, size, nearest):
    method = "nearest" if nearest else "bicubic"
    return tf.image.resize(image, size, method=method)


def augment(inputs, mask, seed, options, nearest_inputs=()):
    """Augment `inputs` ({name: (H, W, 3) float}) and `mask` ((H, W) int32) jointly.

    Returns the augmented `(inputs, mask)`, each `crop_size` x `crop_size`.
    `nearest_inputs` names the inputs resized with nearest neighbour (depth).
    """
    scale_seed, mirror_seed, top_seed, left_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    shape = tf.shape(mask)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)

    scale = tf.random.stateless_uniform([], scale_seed, options.low_scale, options.high_scale)
    shorter = tf.minimum(height, width)
    scale = tf.where(shorter * scale < options.shorter_side, options.shorter_side / shorter, scale)
    size = tf.cast(tf.round(tf.stack([height * scale, width * scale])), tf.int32)
    inputs = {name: _resize(image, size, name in nearest_inputs) for name, image in inputs.items()}
    mask = tf.cast(_resize(mask[..., None], size, nearest=True)[..., 0], tf.int32)

    # Symmetric padding up to the crop size, as the official Pad (may overshoot by one).
    crop = options.crop_size - options.crop_size % 2
    pad_h = tf.maximum((crop - size[0] + 1) // 2, 0)
    pad_w = tf.maximum((crop - size[1] + 1) // 2, 0)
    paddings = [[pad_h, pad_h], [pad_w, pad_w]]
    inputs = {name: tf.pad(image, paddings + [[0, 0]]) for name, image in inputs.items()}
    mask = tf.pad(mask, paddings, constant_values=options.ignore_label)

    if options.mirror:
        flip = tf.random.stateless_uniform([], mirror_seed) < 0.5
        inputs = {
            name: tf.cond(flip, lambda im=image: tf.reverse(im, [1]), lambda im=image: im)
            for name, image in inputs.items()
        }
        mask = tf.cond(flip, lambda: tf.reverse(mask, [1]), lambda: mask)

    padded = tf.shape(mask)
    new_h = tf.minimum(padded[0], crop)
    new_w = tf.minimum(padded[1], crop)
    top = tf.random.stateless_uniform([], top_seed, 0, padded[0] - new_h + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], left_seed, 0, padded[1] - new_w + 1, dtype=tf.int32)
    inputs = {
        name: tf.ensure_shape(image[top : top + new_h, left : left + new_w], [crop, crop, None])
        for name, image in inputs.items()
    }
    mask = tf.ensure_shape(mask[top : top + new_h, left : left + new_w], [crop, crop])
    return inputs, mask
