"""Initial weights: fixed by the run's seed, and every convolution draws its own values."""

import keras
import numpy as np
import pytest

from cenkeras.models import build_unet_generator
from harness import random_images, run_model_saving_test, tiny_models

BUILDERS = {name: build for name, build in tiny_models().items() if name != "pspnet"}


def kernels(seed, build):
    keras.utils.set_random_seed(seed)
    return [w.numpy() for w in build().weights if w.path.endswith("/kernel")]


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_seed_fixes_the_initial_weights_and_kernels_differ(name):
    first, again, other = (kernels(seed, BUILDERS[name]) for seed in (3, 3, 4))
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, b) for a, b in zip(first, other))
    # No two convolutions (of equal shape) start from the same values.
    distinct = {a.tobytes() for a in first}
    assert len(distinct) == len(first)


def gammas(seed, **options):
    keras.utils.set_random_seed(seed)
    generator = build_unet_generator(["shade", "texture"], filters=16, levels=5, **options)
    return {w.path: w.numpy() for w in generator.weights if w.path.endswith("/gamma")}


def test_uniform_norm_scales_are_pytorch_1_0s_and_every_norm_draws_its_own():
    """norm_scale_init="uniform": every instance norm scale (encoder and decoder, every stream)
    from U(0, 1) as PyTorch < 1.2 initialised them, different per norm, fixed by the seed."""
    from scipy import stats

    uniform = gammas(3, norm_scale_init="uniform")
    values = np.concatenate(list(uniform.values()))
    assert len(uniform) == 2 * (3 + 4) and values.size > 900  # 3 encoder + 4 decoder sites, 2 streams
    assert values.min() >= 0.0 and values.max() < 1.0
    assert stats.kstest(values, "uniform").pvalue > 1e-3
    assert len({v.tobytes() for v in uniform.values()}) == len(uniform)
    again = gammas(3, norm_scale_init="uniform")
    assert all(np.array_equal(uniform[k], again[k]) for k in uniform)
    assert all((v == 1.0).all() for v in gammas(3).values())  # the default stays ones


def test_the_scale_init_is_kept_in_the_saved_model(tmp_path):
    keras.utils.set_random_seed(0)
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, norm_scale_init="uniform")
    inputs = random_images(generator.modalities, size=32, batch=1, uniform=True)
    loaded = run_model_saving_test(generator, inputs, tmp_path / "generator.keras")
    assert loaded.get_config()["norm_scale_init"] == "uniform"
    layer = loaded.get_layer("conv2.insnorm_conv")
    assert layer.get_config()["scale_init"] == "uniform"
    for original, restored in zip(generator.weights, loaded.weights):
        np.testing.assert_array_equal(original.numpy(), restored.numpy())


def test_an_unknown_scale_init_is_refused():
    from cenkeras.layers import ParallelNormalization

    with pytest.raises(ValueError, match="unknown scale_init 'random'"):
        ParallelNormalization(2, scale_init="random")
