"""FID and KID from InceptionV3 pool features.

Features come from Keras' InceptionV3 (ImageNet weights, 2048-d average
pool) loaded from a file the user names, or from Keras' cache if the file is
there; nothing is downloaded. The official CEN code uses the pytorch-fid
Inception weights, so absolute values are close to, not equal to, the
official ones; compare runs scored with the same weights.
"""

import os
from pathlib import Path

import numpy as np
from scipy import linalg

KERAS_CACHE_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def find_inception_weights(path=None):
    """The weights file to use: `path` if given (must exist), else Keras' cached copy, else None."""
    if path:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"InceptionV3 weights file not found: {path}")
        return str(path)
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / KERAS_CACHE_FILE
    return str(cache) if cache.is_file() else None


class InceptionFeatures:
    """2048-d InceptionV3 pool features of images in [-1, 1] (any size; resized to 299)."""

    def __init__(self, weights_path):
        import keras

        self.model = keras.applications.InceptionV3(
            include_top=False, weights=weights_path, pooling="avg", input_shape=(299, 299, 3)
        )

    def __call__(self, images, batch_size=32):
        import tensorflow as tf

        features = []
        for start in range(0, len(images), batch_size):
            batch = tf.image.resize(tf.cast(images[start : start + batch_size], tf.float32), (299, 299))
            features.append(self.model(batch, training=False).numpy())  # expects [-1, 1]
        return np.concatenate(features, axis=0).astype(np.float64)


def frechet_distance(features_a, features_b):
    """FID between two feature sets: |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))."""
    features_a, features_b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    sigma_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    sigma_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    covmean, _ = linalg.sqrtm(sigma_a @ sigma_b, disp=False)
    if not np.isfinite(covmean).all():
        # Near-singular product (few samples): regularise as pytorch-fid does.
        offset = np.eye(sigma_a.shape[0]) * 1e-6
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    covmean = covmean.real
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * np.trace(covmean))


def polynomial_mmd(features_a, features_b, degree=3, gamma=None, coef0=1.0):
    """Unbiased MMD^2 with the kernel (gamma <a, b> + coef0)^degree (gamma = 1 / dim)."""
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    gamma = 1.0 / a.shape[1] if gamma is None else gamma
    k_aa = (gamma * a @ a.T + coef0) ** degree
    k_bb = (gamma * b @ b.T + coef0) ** degree
    k_ab = (gamma * a @ b.T + coef0) ** degree
    m, n = len(a), len(b)
    term_aa = (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
    term_bb = (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
    return float(term_aa + term_bb - 2.0 * k_ab.mean())


def kernel_inception_distance(features_a, features_b, subsets=50, subset_size=1000, seed=0):
    """KID: the mean polynomial MMD^2 over random subsets (without replacement), as the official code."""
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(features_a), len(features_b))
    if size < 2:
        raise ValueError("KID needs at least 2 images in each set.")
    values = [
        polynomial_mmd(
            features_a[rng.choice(len(features_a), size, replace=False)],
            features_b[rng.choice(len(features_b), size, replace=False)],
        )
        for _ in range(subsets)
    ]
    return float(np.mean(values))
