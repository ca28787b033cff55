"""What the CEN segmenters (RefineNet, PSPNet) share beyond every CEN network: a ResNet encoder's
options, their checks and config, the encoder's stage outputs."""

from cenkeras.models.base import MultimodalModel
from cenkeras.models.resnet import stage_blocks_for


class ResNetSegmenter(MultimodalModel):
    """Base of `CENRefineNet` and `CENPSPNet`: a segmenter on the multimodal ResNet encoder.

    Subclasses build their graph, then call `keep_segmenter_options`; their
    `get_config` adds their own options to `segmenter_config()`.
    """

    @staticmethod
    def segmenter_blocks(depth, stage_blocks, num_classes):
        """The bottlenecks per stage, after checking `num_classes`."""
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        return stage_blocks_for(depth, stage_blocks)

    def keep_segmenter_options(
        self,
        *,
        depth,
        num_classes,
        freeze_norm_statistics,
        synchronized_bn,
        stage_blocks,
        blocks,
        base_width,
        decoder_width,
        encoder,
        stages,
    ):
        """Keep the encoder options (`segmenter_config` returns them) and expose `pyramid_outputs`:
        `{"layer1".."layer4": {modality: stage output}}` of the streams in `encoder`."""
        self.depth = depth
        self.num_classes = int(num_classes)
        self.freeze_norm_statistics = freeze_norm_statistics
        self.synchronized_bn = synchronized_bn
        self.stage_blocks = None if stage_blocks is None else list(blocks)
        self.base_width = base_width
        self.decoder_width = decoder_width
        self.pyramid_outputs = {
            f"layer{i + 1}": dict(zip(self.modalities, encoder.finish(stage, f"layer{i + 1}_streams")))
            for i, stage in enumerate(stages)
        }

    def segmenter_config(self):
        return {
            **self.base_config(),
            "depth": self.depth,
            "num_classes": self.num_classes,
            "freeze_norm_statistics": self.freeze_norm_statistics,
            "synchronized_bn": self.synchronized_bn,
            "stage_blocks": self.stage_blocks,
            "base_width": self.base_width,
            "decoder_width": self.decoder_width,
        }


def tiny_options():
    """Options of a small segmenter (RefineNet, PSPNet) for tests, examples and the embedded demo:
    one bottleneck per stage, narrow widths (under a million parameters)."""
    return {"stage_blocks": (1, 1, 1, 1), "base_width": 8, "decoder_width": 16}
