"""FID / KID against direct NumPy/SciPy computations, and the reference-based image metrics."""

import numpy as np
import pytest
from scipy import linalg

from cenkeras.metrics import frechet_distance, kernel_inception_distance, l1_error, polynomial_mmd, psnr, ssim
from cenkeras.metrics.fid import trace_sqrt_product, trace_sqrt_product_of_sets


def features(seed, n=300, dim=16, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(dim, dim)) / np.sqrt(dim)
    return (rng.normal(size=(n, dim)) @ mixing) * scale + shift


def direct_fid(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * root)


def direct_mmd(a, b):
    """Unbiased polynomial-kernel MMD^2, written out with loops over pairs."""
    dim = a.shape[1]
    k = lambda x, y: (x @ y / dim + 1.0) ** 3
    m, n = len(a), len(b)
    aa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    bb = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    ab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return aa + bb - 2 * ab


def test_fid_matches_a_direct_computation():
    a, b = features(0), features(1, shift=0.3, scale=1.2)
    assert frechet_distance(a, b) == pytest.approx(direct_fid(a, b), rel=1e-6)


@pytest.mark.parametrize("sizes", [(12, 12), (9, 15)])
def test_fid_with_fewer_images_than_features_matches_scipy_sqrtm(sizes):
    """Small evaluation sets give rank-deficient covariances; the route through the sets' own
    cross products agrees with sqrtm, and with the eigenvalue route on the covariances (whose
    rounding-level eigenvalues add square roots of ~1e-15 each: 1e-7 of the trace here)."""
    a, b = features(7, n=sizes[0], dim=40), features(8, n=sizes[1], dim=40, shift=0.5)
    assert frechet_distance(a, b) == pytest.approx(direct_fid(a, b), rel=1e-6)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    assert trace_sqrt_product_of_sets(a - a.mean(0), b - b.mean(0)) == pytest.approx(
        trace_sqrt_product(sigma_a, sigma_b), rel=1e-6
    )


def test_fid_of_a_set_against_itself_is_zero():
    a = features(2)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_polynomial_mmd_matches_the_pairwise_definition():
    a, b = features(3, n=25), features(4, n=30, shift=0.2)
    assert polynomial_mmd(a, b) == pytest.approx(direct_mmd(a, b), rel=1e-9)


def test_kid_is_unbiased_on_equal_distributions():
    values = [
        kernel_inception_distance(features(10 + i, n=60), features(100 + i, n=60), subsets=5, subset_size=50, seed=i)
        for i in range(40)
    ]
    mean, error = np.mean(values), np.std(values) / np.sqrt(len(values))
    assert abs(mean) < 3 * error + 1e-9  # zero within the estimator's noise


def test_fid_and_kid_grow_when_one_set_is_perturbed():
    real = features(5)
    fids, kids = [], []
    for shift in (0.0, 0.3, 1.0):
        fake = features(6, shift=shift)
        fids.append(frechet_distance(fake, real))
        kids.append(kernel_inception_distance(fake, real, subsets=10, subset_size=200))
    assert fids[0] < fids[1] < fids[2]
    assert kids[0] < kids[1] < kids[2]


def test_reference_metrics():
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    noisy = np.clip(target + rng.normal(0, 0.1, target.shape), -1, 1).astype(np.float32)
    np.testing.assert_allclose(l1_error(target, target).numpy(), 0.0)
    np.testing.assert_allclose(l1_error(noisy, target).numpy(), np.abs(noisy - target).mean(axis=(1, 2, 3)), rtol=1e-5)
    mse = (((noisy + 1) / 2 - (target + 1) / 2) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(noisy, target).numpy(), 10 * np.log10(1.0 / mse), rtol=1e-4)
    assert np.all(ssim(target, target).numpy() > 0.999) and np.all(ssim(noisy, target).numpy() < 0.99)


def test_cached_fid_weights_prefer_pytorch_fids_where_torch_can_read_them(tmp_path, monkeypatch):
    import importlib.util

    from cenkeras.metrics.fid import KERAS_CACHE_FILE, find_inception_weights

    torch_file = tmp_path / "torch" / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth"
    keras_file = tmp_path / "keras" / "models" / KERAS_CACHE_FILE
    for path in (torch_file, keras_file):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"weights")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "torch" else None)
    assert find_inception_weights() == str(torch_file)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real_find_spec(name))
    assert find_inception_weights() == str(keras_file)  # without torch the .pth could not be read
    torch_file.unlink()
    keras_file.unlink()
    assert find_inception_weights() is None
    with pytest.raises(FileNotFoundError, match="Inception weights file not found"):
        find_inception_weights(tmp_path / "nope.pth")
