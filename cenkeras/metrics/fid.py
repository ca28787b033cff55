"""FID and KID, and the networks that make their features.

Two feature networks can score, and their FIDs are not comparable with
each other:

- pytorch-fid's Inception (`pt_inception-2015-12-05-*.pth`, read through
  the `torch` extra), which the official code and the paper use: the one to
  compare with published numbers (`cenkeras.metrics.fid_inception`);
- Keras' ImageNet InceptionV3 (a no-top `.h5` file), the path without torch.

Nothing is downloaded: the file is the one the user names, else pytorch-fid's
or Keras' cached copy when one is on disk. Every FID that cenkeras reports
names the network that made it (its `description`).
"""

import importlib.util
import os
from pathlib import Path

import numpy as np
from scipy import linalg

KERAS_CACHE_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
# Where pytorch-fid (through torch.hub) keeps the file it downloaded.
TORCH_CACHE_DIR = Path("~/.cache/torch/hub/checkpoints")
PYTORCH_FID_PATTERN = "pt_inception-2015-12-05-*.pth"
# The paper, like the official code, reports KID multiplied by 100.
KID_SCALE = 100


def _torch_cache():
    home = os.environ.get("TORCH_HOME")
    directory = Path(home) / "hub" / "checkpoints" if home else TORCH_CACHE_DIR.expanduser()
    found = sorted(directory.glob(PYTORCH_FID_PATTERN)) if directory.is_dir() else []
    return found[0] if found else None


def find_inception_weights(path=None):
    """The weights file to use: `path` if given (must exist), else a cached copy on disk, else None.

    The cached pytorch-fid file (the paper's network) is preferred over Keras'
    InceptionV3 where torch, which reads it, is installed.
    """
    if path:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"Inception weights file not found: {path}")
        return str(path)
    cached = _torch_cache()
    if cached is not None and importlib.util.find_spec("torch") is not None:
        return str(cached)
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / KERAS_CACHE_FILE
    return str(cache) if cache.is_file() else None


class InceptionFeatures:
    """Keras' ImageNet InceptionV3: 2048-d pool features of RGB images in [0, 1] (any size; resized to 299).

    Examples:
        >>> features = InceptionFeatures("inception_v3_notop.h5")  # doctest: +SKIP
        >>> features.description  # doctest: +SKIP
        'Keras InceptionV3 (inception_v3_notop.h5)'
    """

    def __init__(self, weights_path):
        import keras

        self.model = keras.applications.InceptionV3(
            include_top=False, weights=str(weights_path), pooling="avg", input_shape=(299, 299, 3)
        )
        self.description = f"Keras InceptionV3 ({Path(weights_path).name})"

    def __call__(self, images, batch_size=32):
        import tensorflow as tf

        features = []
        for start in range(0, len(images), batch_size):
            batch = tf.image.resize(tf.cast(images[start : start + batch_size], tf.float32), (299, 299))
            features.append(self.model(batch * 2.0 - 1.0, training=False).numpy())  # expects [-1, 1]
        return np.concatenate(features, axis=0).astype(np.float64)


def load_fid_network(weights_path):
    """The feature network a weights file holds: pytorch-fid's (.pth / .pt) or Keras' InceptionV3 (.h5)."""
    path = Path(weights_path)
    if path.suffix in (".pth", ".pt"):
        from cenkeras.metrics.fid_inception import PytorchFidInception

        return PytorchFidInception.from_file(path)
    return InceptionFeatures(path)


def frechet_distance(features_a, features_b):
    """FID between two feature sets: |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    The trace of the matrix square root is taken from eigenvalues: S_a S_b has
    the eigenvalues of the symmetric S_a^(1/2) S_b S_a^(1/2), so Tr((S_a
    S_b)^(1/2)) is the sum of their square roots. That is the value
    pytorch-fid's `scipy.linalg.sqrtm` gives (to rounding), without its
    complex Schur iteration: two symmetric eigen-decompositions instead, about
    five times faster at 2048 features, and no imaginary residue to discard.
    Sets smaller than the feature size take a shorter exact route
    (`trace_sqrt_product_of_sets`).
    """
    features_a, features_b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    diff = mu_a - mu_b
    if max(len(features_a), len(features_b)) < features_a.shape[1]:
        centred_a, centred_b = features_a - mu_a, features_b - mu_b
        traces = np.sum(centred_a**2) / (len(features_a) - 1) + np.sum(centred_b**2) / (len(features_b) - 1)
        return float(diff @ diff + traces - 2.0 * trace_sqrt_product_of_sets(centred_a, centred_b))
    sigma_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    sigma_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * trace_sqrt_product(sigma_a, sigma_b))


def trace_sqrt_product(sigma_a, sigma_b):
    """Tr((S_a S_b)^(1/2)) of two covariance matrices (symmetric, positive semi-definite)."""
    values, vectors = linalg.eigh(sigma_a)
    # Rank-deficient covariances (fewer images than features) have eigenvalues of -1e-13 and the like.
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_a @ sigma_b @ root_a
    return float(np.sqrt(np.clip(linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)).sum())


def trace_sqrt_product_of_sets(centred_a, centred_b):
    """Tr((S_a S_b)^(1/2)) from the centred feature sets (n_a x d, n_b x d) themselves.

    With S = X^T X / (n - 1), S_a S_b has the non-zero eigenvalues of C C^T, where
    C = X_a X_b^T / sqrt((n_a - 1)(n_b - 1)) is only n_a x n_b: the trace of the root
    is the sum of C's singular values. Exact, and for a few hundred images against
    2048 features it replaces two 2048 x 2048 eigen-decompositions (seconds each)
    by one small SVD.
    """
    cross = centred_a @ centred_b.T / np.sqrt((len(centred_a) - 1) * (len(centred_b) - 1))
    return float(linalg.svdvals(cross).sum())


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


class FidScorer:
    """FID and KID x 100 of image sets against a reference set, with one network and one preprocessing.

    Images go through `fid_images(preprocessing)` a chunk at a time, so that
    the official 500 px renderings of a large set are never all in memory.

    Examples:
        >>> scorer = FidScorer(load_fid_network("pt_inception-2015-12-05-6726825d.pth"))  # doctest: +SKIP
        >>> real = scorer.features(real_images)  # doctest: +SKIP
        >>> scorer.scores(scorer.features(generated_images), real)  # doctest: +SKIP
        {'fid': 61.2, 'kid_x100': 1.93}
    """

    def __init__(self, network, preprocessing="official", kid_subsets=50, kid_subset_size=1000, chunk=50):
        self.network = network
        self.preprocessing = preprocessing
        self.kid_subsets = kid_subsets
        self.kid_subset_size = kid_subset_size
        self.chunk = chunk

    @property
    def description(self):
        """What made the numbers, for every report: the network, its file and the preprocessing."""
        return f"{self.network.description}, {self.preprocessing} preprocessing"

    def features(self, images):
        """Features of NHWC images in [-1, 1]."""
        from cenkeras.metrics.fid_images import fid_images

        return np.concatenate(
            [
                self.network(fid_images(images[start : start + self.chunk], self.preprocessing))
                for start in range(0, len(images), self.chunk)
            ]
        )

    def scores(self, features, reference):
        """`{"fid", "kid_x100"}` of one feature set against the reference set."""
        kid = kernel_inception_distance(features, reference, self.kid_subsets, self.kid_subset_size)
        return {"fid": frechet_distance(features, reference), "kid_x100": KID_SCALE * kid}
