"""A segmentation architecture from outside cenkeras: the multimodal ResNet encoder and a
two-layer head on layer4, registered through the `cenkeras.architectures` entry point group."""

import dataclasses

import keras

from cenkeras.layers import make_ensemble
from cenkeras.models.architectures import Architecture
from cenkeras.models.base import check_modalities, float32_outputs, modality_inputs
from cenkeras.models.resnet import resnet_encoder
from cenkeras.models.segmenter import ResNetSegmenter
from cenkeras.models.streams import Streams


@dataclasses.dataclass
class ToyOptions:
    head_width: int = 8

    def validate(self):
        if self.head_width < 1:
            raise ValueError(f"head_width must be >= 1, got {self.head_width}.")


@keras.saving.register_keras_serializable(package="toy_architecture")
class ToySegmenter(ResNetSegmenter):
    """ResNet encoder (shared convolutions, private norms, channel exchange) + 3x3 conv + classifier."""

    def __init__(
        self,
        depth=50,
        num_classes=2,
        modalities=("rgb", "depth"),
        network=None,
        stage_blocks=None,
        base_width=64,
        head_width=8,
        preprocessing=None,
        freeze_norm_statistics=False,
        synchronized_bn=False,
        decoder_width=8,
        **kwargs,
    ):
        network, kwargs = self.network_options(network, kwargs, threshold=2e-2, dropout=0.0)
        modalities = check_modalities(modalities)
        blocks = self.segmenter_blocks(depth, stage_blocks, num_classes)
        streams = Streams.for_network(len(modalities), network, norm="batch")
        inputs = modality_inputs(modalities, network.input_channels)
        xs = streams.start([inputs[name] for name in modalities])
        stages = resnet_encoder(streams, xs, blocks, base_width)
        x = streams.relu(streams.norm(streams.conv(stages[-1], "head.0", head_width, 3, padding=1), "head.1"))
        logits = streams.finish(streams.conv(x, "head.2", num_classes, 1, use_bias=True), "unstack_streams")
        outputs = float32_outputs(modalities, logits, make_ensemble(network.ensemble, len(modalities))(logits))
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
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
            encoder=streams,
            stages=stages,
        )
        self.head_width = head_width

    def get_config(self):
        return {**self.segmenter_config(), "head_width": self.head_width}


def build_toy(depth, num_classes, modalities, **options):
    return ToySegmenter(depth=depth, num_classes=num_classes, modalities=modalities, **options)


ARCHITECTURE = Architecture("toy", "ToyNet", build_toy, ToyOptions)
