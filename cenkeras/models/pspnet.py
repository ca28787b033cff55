"""The CEN PSPNet segmenter: shared-conv multimodal dilated ResNet + pyramid pooling module."""

import dataclasses
import math
import numbers

import keras

from cenkeras.layers import AdaptiveAveragePooling, ResizeLike, make_ensemble
from cenkeras.layers.fusion import fusion_hook
from cenkeras.models.architectures import Architecture
from cenkeras.models.base import (
    AUXILIARY_PREFIX,
    check_modalities,
    float32_outputs,
    modality_inputs,
)
from cenkeras.models.resnet import ENCODER_POINTS, EXPANSION, resnet_encoder
from cenkeras.models.segmenter import ResNetSegmenter
from cenkeras.models.streams import Streams

# Stages 3 and 4 keep stride 8 and dilate their 3x3 convolutions instead (PSPNet).
DILATIONS = (1, 1, 2, 4)
PYRAMID_BINS = (1, 2, 3, 6)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclasses.dataclass
class PSPNetOptions:
    """PSPNet's own options (a recipe's `model.decoder` section with `model.architecture=pspnet`).

    - `pyramid_bins`: the grid sizes the pyramid pools layer4 to (PSPNet: 1, 2, 3, 6).
    - `auxiliary_weight`: weight of the auxiliary head's loss on layer3 (PSPNet: 0.4; 0 builds none).
    """

    pyramid_bins: tuple[int, ...] = PYRAMID_BINS
    auxiliary_weight: float = 0.4

    def validate(self):
        bins = tuple(self.pyramid_bins)
        if not bins or not all(_is_number(b) and math.isfinite(b) and b >= 1 and int(b) == b for b in bins):
            raise ValueError(f"pyramid_bins must be whole grid sizes >= 1, got {list(bins)}.")
        weight = self.auxiliary_weight
        if not (_is_number(weight) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"auxiliary_weight must be a finite number >= 0, got {weight!r}.")
        return self


def pyramid_pooling(streams, xs, bins, reduction):
    """The pyramid pooling module: each bin's pooled map, reduced and upsampled, beside the input.

    Names follow the PSPNet authors' PyTorch code (`ppm.features.<i>.0` conv,
    `.1` BatchNorm), so their checkpoints' keys map name for name.
    """
    upsample = ResizeLike(align_corners=True, name="ppm.upsample")
    parts = [xs]
    for index, size in enumerate(bins):
        pooled = streams.map(AdaptiveAveragePooling(size, name=f"ppm.features.{index}.pool"), xs)
        pooled = streams.conv(pooled, f"ppm.features.{index}.0", reduction, 1)
        pooled = streams.relu(streams.norm(pooled, f"ppm.features.{index}.1"))
        parts.append(streams.combine(upsample, pooled, xs))
    return streams.concat(parts, "ppm.concat")


def classifier_head(streams, xs, name, width, num_classes, dropout):
    """3x3 conv + BatchNorm + ReLU + channel dropout + 1x1 classifier (`<name>.0/.1/.4`)."""
    x = streams.conv(xs, f"{name}.0", width, 3, padding=1)
    x = streams.relu(streams.norm(x, f"{name}.1"))
    if dropout:
        # PyTorch's Dropout2d drops whole channels.
        x = streams.map(keras.layers.SpatialDropout2D(dropout, name=f"{name}.3"), x)
    return streams.conv(x, f"{name}.4", num_classes, 1, use_bias=True)


@keras.saving.register_keras_serializable(package="cenkeras")
class CENPSPNet(ResNetSegmenter):
    """CEN segmenter: multimodal dilated ResNet-50/101/152 encoder + PSPNet head.

    The Pyramid Scene Parsing Network (Zhao et al., CVPR 2017) on CEN's
    encoder: convolutions shared by the modality streams, private
    BatchNorms, channel exchange after the `bn2` of every bottleneck (the
    paper exchanges in "the BN layers of the encoder"). Stages 3 and 4 are
    dilated (2 and 4) instead of strided, so features stay at 1/8 of the
    input. The pyramid pooling module pools layer4 to 1, 2, 3 and 6 bins,
    reduces each to 1/len(bins) of the channels, upsamples and concatenates
    them with layer4; a 3x3 conv + BN + ReLU + dropout + 1x1 conv classifies.
    An auxiliary head of the same form on layer3 gives the outputs
    `"auxiliary.<modality>"`, which the trainer weighs by
    `auxiliary_weight` (0.4 in the PSPNet paper); evaluation, prediction and
    export read only the main outputs, and a traced function (`tf.function`,
    the SavedModel) prunes the auxiliary head away.

    Decoder norms (pyramid, heads) are private per modality like the
    encoder's (each stream's features have their own statistics) and do not
    exchange. They always learn their statistics: `freeze_norm_statistics`
    freezes only the encoder's, which come from ImageNet.

    The stem is torchvision's (7x7 conv), not the PSPNet authors' three 3x3
    convs, so that torchvision's ImageNet ResNets initialise the encoder.

    Args:
        depth, num_classes, modalities, freeze_norm_statistics, synchronized_bn,
        stage_blocks, base_width, preprocessing: as in `CENRefineNet`.
        network: a `cenkeras.models.NetworkOptions` (or its dict), as in
            `CENRefineNet`; its dropout (default 0.1, PSPNet's) is the channel
            dropout before both classifiers.
        decoder_width: width of the auxiliary head; the main head has twice it
            (PSPNet: 256 and 512).
        pyramid_bins: the pooled grid sizes (PSPNet: 1, 2, 3, 6).
        auxiliary_weight: the auxiliary loss's weight; 0 builds no auxiliary head.

    Outputs a dict with one logits tensor per modality and `"ensemble"`,
    each `(batch, H/8, W/8, num_classes)` in float32, plus one
    `"auxiliary.<modality>"` per modality when `auxiliary_weight > 0`.

    Examples:
        >>> import numpy as np
        >>> from cenkeras.models import tiny_options
        >>> model = CENPSPNet(depth=50, num_classes=5, modalities=("rgb", "depth"), **tiny_options())
        >>> images = {"rgb": np.zeros((1, 64, 64, 3)), "depth": np.zeros((1, 64, 64, 3))}
        >>> sorted((name, tuple(x.shape)) for name, x in model(images).items())[:2]
        [('auxiliary.depth', (1, 8, 8, 5)), ('auxiliary.rgb', (1, 8, 8, 5))]
        >>> model(images)["ensemble"].shape
        TensorShape([1, 8, 8, 5])
    """

    def __init__(
        self,
        depth=101,
        num_classes=40,
        modalities=("rgb", "depth"),
        network=None,
        freeze_norm_statistics=False,
        synchronized_bn=False,
        stage_blocks=None,
        base_width=64,
        decoder_width=256,
        pyramid_bins=PYRAMID_BINS,
        auxiliary_weight=0.4,
        preprocessing=None,
        **kwargs,
    ):
        network, kwargs = self.network_options(network, kwargs, threshold=2e-2, dropout=0.1)
        modalities = check_modalities(modalities)
        blocks = self.segmenter_blocks(depth, stage_blocks, num_classes)
        PSPNetOptions(tuple(pyramid_bins), auxiliary_weight).validate()
        pyramid_bins = tuple(int(b) for b in pyramid_bins)

        # === Layers ===
        norm_options = {"synchronized": True} if synchronized_bn else None
        encoder = Streams.for_network(
            len(modalities), network, norm="batch", freeze_statistics=freeze_norm_statistics, norm_options=norm_options
        )
        # The decoder's norms learn their statistics and do not exchange.
        decoder = Streams.for_network(
            len(modalities), network, norm="batch", exchanges=False, norm_options=norm_options
        )
        fuse = fusion_hook(encoder, network.fusion, ENCODER_POINTS, len(modalities))

        # === Functional Model ===
        inputs = modality_inputs(modalities, network.input_channels)
        xs = encoder.start([inputs[name] for name in modalities])
        l1, l2, l3, l4 = resnet_encoder(encoder, xs, blocks, base_width, fuse=fuse, dilations=DILATIONS)
        features = base_width * 8 * EXPANSION
        x = pyramid_pooling(decoder, l4, pyramid_bins, features // len(pyramid_bins))
        logits = classifier_head(decoder, x, "cls", 2 * decoder_width, num_classes, network.dropout)
        logits = decoder.finish(logits, "unstack_streams")
        fused = make_ensemble(network.ensemble, len(modalities))(logits)
        outputs = float32_outputs(modalities, logits, fused)
        if float(auxiliary_weight) > 0:
            auxiliary = classifier_head(decoder, l3, "aux", decoder_width, num_classes, network.dropout)
            auxiliary = decoder.finish(auxiliary, "unstack_auxiliary")
            to_float32 = keras.layers.Activation("linear", dtype="float32", name="auxiliary_logits")
            for name, x in zip(modalities, auxiliary):
                outputs[AUXILIARY_PREFIX + name] = to_float32(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.keep_network_options(modalities=modalities, network=network, preprocessing=preprocessing)
        self.keep_segmenter_options(
            depth=depth,
            num_classes=num_classes,
            freeze_norm_statistics=freeze_norm_statistics,
            synchronized_bn=synchronized_bn,
            stage_blocks=stage_blocks,
            blocks=blocks,
            base_width=base_width,
            decoder_width=decoder_width,
            encoder=encoder,
            stages=(l1, l2, l3, l4),
        )
        self.pyramid_bins = list(pyramid_bins)
        self.auxiliary_weight = float(auxiliary_weight)

    def get_config(self):
        return {
            **self.segmenter_config(),
            "pyramid_bins": self.pyramid_bins,
            "auxiliary_weight": self.auxiliary_weight,
        }


def build_pspnet(depth, num_classes, modalities, **options):
    """Build a `CENPSPNet` (see its docstring for every option).

    Examples:
        >>> from cenkeras.models import tiny_options
        >>> model = build_pspnet(50, 40, ["rgb", "depth"], sparsity=6e-4, **tiny_options())
        >>> sorted(name for name in model.output if not name.startswith("auxiliary."))
        ['depth', 'ensemble', 'rgb']
    """
    return CENPSPNet(depth=depth, num_classes=num_classes, modalities=modalities, **options)


ARCHITECTURE = Architecture("pspnet", "PSPNet", build_pspnet, PSPNetOptions)
