"""Full-size models: trainable parameter counts equal the official implementation's."""

import json

import numpy as np
import pytest

from cenkeras.models import build_patchgan_discriminator, build_pspnet, build_refinenet, build_unet_generator
from harness import reference_path, trainable_count

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


# CEN-PSPNet has no official reference: its counts are derived here from the layer list.
TORCHVISION_RESNET_WITHOUT_FC = {50: 25_557_032 - 2_049_000, 101: 44_549_160 - 2_049_000, 152: 60_192_808 - 2_049_000}


def resnet_layer_list(depth):
    """(convolution weights, BatchNorm channels) of a torchvision bottleneck ResNet without its fc."""
    stage_blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]
    convs, norm_channels = 7 * 7 * 3 * 64, 64  # stem conv1 + bn1
    in_channels = 64
    for stage, blocks in enumerate(stage_blocks):
        planes = 64 * 2**stage
        for block in range(blocks):
            convs += in_channels * planes + 9 * planes * planes + planes * 4 * planes  # conv1, conv2, conv3
            norm_channels += planes + planes + 4 * planes  # bn1, bn2, bn3
            if block == 0:
                convs += in_channels * 4 * planes  # downsample.0
                norm_channels += 4 * planes  # downsample.1
            in_channels = 4 * planes
    return convs, norm_channels


def pspnet_parameters(depth, num_classes, num_modalities, bins=4, head=512, auxiliary=256):
    """Shared weights once, every BatchNorm's gamma and beta once per modality, alpha per modality."""
    convs, norm_channels = resnet_layer_list(depth)
    features = 2048
    reduction = features // bins
    convs += bins * features * reduction  # ppm.features.<i>.0 (1x1, no bias)
    norm_channels += bins * reduction  # ppm.features.<i>.1
    convs += 9 * 2 * features * head + head * num_classes + num_classes  # cls.0 (3x3), cls.4 (1x1 + bias)
    norm_channels += head  # cls.1
    convs += 9 * (features // 2) * auxiliary + auxiliary * num_classes + num_classes  # aux.0 on layer3, aux.4
    norm_channels += auxiliary  # aux.1
    return convs + num_modalities * 2 * norm_channels + num_modalities


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_the_hand_derived_resnet_is_torchvisions(depth):
    convs, norm_channels = resnet_layer_list(depth)
    assert convs + 2 * norm_channels == TORCHVISION_RESNET_WITHOUT_FC[depth]


@pytest.mark.parametrize("num_modalities", [1, 2, 3])
def test_pspnet152_parameter_count(num_modalities):
    model = build_pspnet(152, 40, NAMES[:num_modalities])
    assert trainable_count(model) == pspnet_parameters(152, 40, num_modalities)


def test_pspnet152_parameter_counts_stated():
    """The counts for the record (RGB-D: 83.8M, of which 58.1M are the ResNet-152's shared weights)."""
    assert [pspnet_parameters(152, 40, m) for m in (1, 2, 3)] == [83_608_209, 83_765_266, 83_922_323]
