"""Initial weights: fixed by the run's seed, and every convolution draws its own values."""

import keras
import numpy as np
import pytest

from cenkeras.models import (
    build_patchgan_discriminator,
    build_refinenet,
    build_unet_generator,
    tiny_refinenet_options,
)

BUILDERS = {
    "refinenet": lambda: build_refinenet(50, 5, ["rgb", "depth"], **tiny_refinenet_options()),
    "unet": lambda: build_unet_generator(["shade", "texture"], filters=4, levels=5),
    "patchgan": lambda: build_patchgan_discriminator(filters=4),
}


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
