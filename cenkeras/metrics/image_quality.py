"""Reference-based image metrics that need no weights: L1, PSNR, SSIM (images in [-1, 1])."""

import tensorflow as tf


def l1_error(generated, target):
    """Mean absolute error per image, on the [-1, 1] scale the official code reports."""
    return tf.reduce_mean(tf.abs(tf.cast(generated, tf.float32) - tf.cast(target, tf.float32)), axis=[1, 2, 3])


def _unit(images):
    return (tf.clip_by_value(tf.cast(images, tf.float32), -1.0, 1.0) + 1.0) / 2.0


def psnr(generated, target):
    """Peak signal-to-noise ratio (dB) per image, with images mapped to [0, 1]."""
    return tf.image.psnr(_unit(generated), _unit(target), max_val=1.0)


def ssim(generated, target):
    """Structural similarity per image (Gaussian 11x11 window), images mapped to [0, 1]."""
    return tf.image.ssim(_unit(generated), _unit(target), max_val=1.0)
