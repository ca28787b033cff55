"""The CEN RGB-D segmenter: shared-conv multimodal ResNet + light-weight RefineNet."""

import keras

from cenkeras.layers import ResizeLike, WaitFor, make_ensemble
from cenkeras.layers.fusion import fusion_hook
from cenkeras.models.architectures import Architecture
from cenkeras.models.base import check_modalities, float32_outputs, modality_inputs
from cenkeras.models.resnet import ENCODER_POINTS, resnet_encoder
from cenkeras.models.segmenter import ResNetSegmenter
from cenkeras.models.streams import Streams


def residual_conv_unit(streams, xs, name, filters, blocks):
    """RCU chain (`<name>.0.<i>_conv`, `<name>.0.<i>_conv_relu_varout_dimred`).

    The official ReLU is in-place, so the residual added back is ReLU(x),
    not x: a port that adds x back misses the official outputs by ~1.
    """
    for i in range(1, blocks + 1):
        residual = streams.relu(xs)
        out = streams.conv(residual, f"{name}.0.{i}_conv", filters, 3, padding=1, use_bias=True)
        out = streams.relu(out)
        out = streams.conv(out, f"{name}.0.{i}_conv_relu_varout_dimred", filters, 3, padding=1)
        xs = streams.add(out, residual)
    return xs


def chained_residual_pooling(streams, xs, name, filters, stages=4):
    """CRP: repeated 5x5 max-pool + 3x3 conv, each result added to the input.

    Each pooling waits for the sum so far (`WaitFor`): the branches are
    added, and freed, one by one instead of all at the end.
    """
    top = xs
    for i in range(1, stages + 1):
        if i > 1:
            top = streams.combine(WaitFor(), top, xs)
        top = streams.map(keras.layers.MaxPooling2D(5, strides=1, padding="same"), top)
        top = streams.conv(top, f"{name}.0.{i}_outvar_dimred", filters, 3, padding=1)
        xs = streams.add(xs, top)
    return xs


def refine_stage(streams, xs, index, filters, coarser=None, out_filters=None):
    """One RefineNet path: adapt the encoder features, fuse the coarser path, pool, refine."""
    g = index + 1
    x = streams.conv(xs, f"p_ims1d2_outl{g}_dimred", filters, 3, padding=1)
    x = residual_conv_unit(streams, x, f"adapt_stage{g}_b", filters, blocks=2)
    if coarser is None:
        x = streams.relu(x)
    else:
        x = streams.conv(x, f"adapt_stage{g}_b2_joint_varout_dimred", filters, 3, padding=1)
        x = streams.relu(streams.add(x, coarser))
    x = chained_residual_pooling(streams, x, f"mflow_conv_g{g}_pool", filters)
    x = residual_conv_unit(streams, x, f"mflow_conv_g{g}_b", filters, blocks=3)
    if out_filters is not None:
        x = streams.conv(x, f"mflow_conv_g{g}_b3_joint_varout_dimred", out_filters, 3, padding=1)
    return x


@keras.saving.register_keras_serializable(package="cenkeras")
class CENRefineNet(ResNetSegmenter):
    """CEN segmenter: multimodal ResNet-50/101/152 encoder + RefineNet decoder.

    One network runs on every modality stream: convolutions are shared,
    BatchNorms are private per modality, and after the 3x3 convolution's
    norm (`bn2`) of every bottleneck the streams exchange the channels whose
    scale is below `threshold`. Each stream ends in its own classifier; a
    learned softmax-weighted ensemble of the (detached) branch logits is the
    fused prediction. Layer names follow the official PyTorch modules, so
    `cenkeras.interop.load_torch_state_dict` maps official checkpoints
    name for name.

    Args:
        depth: 50, 101 or 152.
        num_classes: number of segmentation classes.
        modalities: names of the input modalities, e.g. `("rgb", "depth")`.
        network: a `cenkeras.models.NetworkOptions` (or its dict): the exchange
            (threshold 2e-2 by default, scope, rule, ...), the fusion (CEN's
            exchange, or a baseline fusing at the stage it names: "early"
            after the stem, "middle" after layer2, "late" after layer4, "all"),
            the L1 `sparsity` on the `bn2` scales, the ablation switches, the
            dropout on layer3, layer4 and before the classifier (0.5), the
            input channels and the speed options. Its fields may also be given
            as keyword arguments (`sparsity=6e-4`).
        freeze_norm_statistics: BatchNorms use their running statistics in
            training too (the official training), while gammas/betas learn.
        synchronized_bn: BatchNorm statistics over the global batch under
            tf.distribute (`BatchNormalization(synchronized=True)`).
        stage_blocks: bottlenecks per stage, overriding `depth` (tiny models).
        base_width: planes of the first stage (64; smaller for tiny models).
        decoder_width: RefineNet width (256; the coarsest path uses twice it).
        preprocessing: `{modality: ModalityPreprocessor}` (or its options), how
            raw images become the inputs; kept in the config, so a saved model
            says how to feed it (`preprocessors()`). Adds no computation.

    Outputs a dict with one logits tensor per modality and `"ensemble"`, each
    `(batch, H/4, W/4, num_classes)` in float32.

    Examples:
        >>> import numpy as np
        >>> model = CENRefineNet(depth=50, num_classes=5, modalities=("rgb", "depth"),
        ...     stage_blocks=(1, 1, 1, 1), base_width=8, decoder_width=16)
        >>> images = {"rgb": np.zeros((1, 64, 64, 3)), "depth": np.zeros((1, 64, 64, 3))}
        >>> model(images)["ensemble"].shape
        TensorShape([1, 16, 16, 5])
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
        preprocessing=None,
        **kwargs,
    ):
        network, kwargs = self.network_options(network, kwargs, threshold=2e-2, dropout=0.5)
        modalities = check_modalities(modalities)
        blocks = self.segmenter_blocks(depth, stage_blocks, num_classes)

        # === Layers ===
        streams = Streams.for_network(
            len(modalities),
            network,
            norm="batch",
            freeze_statistics=freeze_norm_statistics,
            norm_options={"synchronized": True} if synchronized_bn else None,
        )
        fuse = fusion_hook(streams, network.fusion, ENCODER_POINTS, len(modalities))

        # === Functional Model ===
        inputs = modality_inputs(modalities, network.input_channels)
        xs = streams.start([inputs[name] for name in modalities])
        l1, l2, l3, l4 = resnet_encoder(streams, xs, blocks, base_width, fuse=fuse)
        drop = keras.layers.Dropout(network.dropout, name="dropout")
        l4 = streams.map(drop, l4)
        l3 = streams.map(drop, l3)
        upsample = ResizeLike(align_corners=True, name="upsample")

        x4 = refine_stage(streams, l4, 0, 2 * decoder_width, out_filters=decoder_width)
        x3 = refine_stage(
            streams, l3, 1, decoder_width, coarser=streams.combine(upsample, x4, l3), out_filters=decoder_width
        )
        x2 = refine_stage(
            streams, l2, 2, decoder_width, coarser=streams.combine(upsample, x3, l2), out_filters=decoder_width
        )
        x1 = refine_stage(streams, l1, 3, decoder_width, coarser=streams.combine(upsample, x2, l1))
        x1 = streams.map(drop, x1)
        logits = streams.conv(x1, "clf_conv", num_classes, 3, padding=1, use_bias=True)
        logits = streams.finish(logits, "unstack_streams")
        fused = make_ensemble(network.ensemble, len(modalities))(logits)
        outputs = float32_outputs(modalities, logits, fused)
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
            encoder=streams,
            stages=(l1, l2, l3, l4),
        )

    def get_config(self):
        return self.segmenter_config()


def build_refinenet(depth, num_classes, modalities, **options):
    """Build a `CENRefineNet` (see its docstring for every option).

    Examples:
        >>> from cenkeras.models import tiny_options
        >>> model = build_refinenet(50, 40, ["rgb", "depth"], sparsity=6e-4, **tiny_options())
        >>> sorted(model.output)
        ['depth', 'ensemble', 'rgb']
    """
    return CENRefineNet(depth=depth, num_classes=num_classes, modalities=modalities, **options)


ARCHITECTURE = Architecture("refinenet", "RefineNet", build_refinenet)
