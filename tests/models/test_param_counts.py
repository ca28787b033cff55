"""Full-size models: trainable parameter counts equal the official implementation's."""

import json

import numpy as np
import pytest

from cenkeras.models import build_patchgan_discriminator, build_refinenet, build_unet_generator
from cen_testing import reference_path, trainable_count

pytestmark = pytest.mark.slow
NAMES = ("rgb", "depth", "hha")


def official_counts():
    return json.loads(reference_path("param_counts.json").read_text())


@pytest.mark.parametrize("depth", [50, 101, 152])
@pytest.mark.parametrize("num_modalities", [1, 2, 3])
def test_refinenet_parameter_count(depth, num_modalities):
    model = build_refinenet(depth, 40, NAMES[:num_modalities])
    expected = official_counts()[f"refinenet{depth}_M{num_modalities}"]
    assert trainable_count(model) == expected["total"]
    alpha = model.get_layer("ensemble").alpha
    assert int(np.prod(alpha.shape)) == expected["alpha"]


@pytest.mark.parametrize("num_modalities", [1, 2, 3])
def test_generator_parameter_count(num_modalities):
    model = build_unet_generator(NAMES[:num_modalities])
    expected = official_counts()[f"generator_M{num_modalities}"]["total_without_unused_norms"]
    assert trainable_count(model) == expected


def test_discriminator_parameter_count():
    expected = official_counts()["discriminator"]["total_without_unused_norms"]
    assert trainable_count(build_patchgan_discriminator()) == expected
