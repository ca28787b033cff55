"""The CEN pix2pix U-Net-256 generator for multi-domain image translation."""

import keras

from cenkeras.layers import make_ensemble
from cenkeras.layers.fusion import fusion_hook
from cenkeras.models.base import MultimodalModel, check_modalities, float32_outputs, modality_inputs
from cenkeras.models.streams import PIX2PIX_INIT, Streams, fresh_initializer

DECODER_NORMS = ("private", "shared")


def unused_torch_modules(levels=8):
    """Norms the official code builds but forward() never uses (first and last encoder
    blocks, last decoder block); their checkpoint keys are skipped on import."""
    return ("conv1.insnorm_conv", f"conv{levels}.insnorm_conv", f"deconv{levels}.insnorm_deconv")


@keras.saving.register_keras_serializable(package="cenkeras")
class CENUNetGenerator(MultimodalModel):
    """CEN pix2pix U-Net-256 generator: M input domains to one output domain.

    Eight stride-2 encoder blocks (LeakyReLU 0.2, conv 4x4, instance norm)
    and eight decoder blocks (ReLU, transposed conv 4x4, instance norm,
    dropout on the first three) with skip connections, shared by every
    input stream. Encoder blocks 2-7 (all but the first and last) have
    private instance norms that exchange channels below the threshold. Each stream ends in tanh; a learned
    ensemble of the (detached) branch images is the fused output. The
    instance norms track running statistics and use them at inference, as
    the official model does.

    The official code's LeakyReLU is in-place, so each skip connection
    carries LeakyReLU(encoder output), which this port reproduces.

    Args:
        modalities: names of the input domains, e.g. `("shade", "texture")`.
        network: a `cenkeras.models.NetworkOptions` (or its dict), as in
            `CENRefineNet`: the exchange threshold defaults to 1e-2 (the
            paper's for translation); a fusion baseline fuses after encoder
            block 1 ("early"), block (levels + 1) // 2 ("middle": the 4th of 8, as in the paper), the innermost
            block ("late") or every encoder block ("all"); the L1 `sparsity`
            acts on the encoder norm scales; `share_norms` shares the encoder
            norms; the dropout (0.5, pix2pix's) is that of decoder blocks 1-3.
            Its fields may also be given as keyword arguments.
        decoder_norms: "private" (official code) or "shared" (paper's text).
        filters: width of the first block (64).
        output_channels: channels of the generated image (3).
        levels: stride-2 levels (8, the official U-Net-256; fewer for small
            images and fast experiments: H and W must be multiples of 2**levels).
        norm_scale_init: how every instance norm's scale starts: "ones" or
            "uniform" (U(0, 1), as in the official code's PyTorch 1.0; see
            `ParallelNormalization`'s `scale_init`).
        preprocessing: `{modality: ModalityPreprocessor}` (or its options), how
            raw images become the inputs; kept in the config, so a saved model
            says how to feed it (`preprocessors()`). Adds no computation.

    Outputs a dict with one image per input domain and `"ensemble"`, each
    `(batch, H, W, output_channels)` in [-1, 1]. The stride-2 levels need H
    and W to be multiples of 2**levels (256 for the official eight).

    Example (a small one: 5 levels take 32x32 images; the official network is `filters=64,
    levels=8` on 256x256):
    >>> import numpy as np
    >>> generator = CENUNetGenerator(modalities=("shade", "texture"), filters=4, levels=5)
    >>> images = {"shade": np.zeros((1, 32, 32, 3)), "texture": np.zeros((1, 32, 32, 3))}
    >>> generator(images)["ensemble"].shape
    TensorShape([1, 32, 32, 3])
    """

    @property
    def unused_torch_modules(self):
        return unused_torch_modules(self.levels)

    def __init__(
        self,
        modalities=("shade", "texture"),
        network=None,
        decoder_norms="private",
        filters=64,
        output_channels=3,
        levels=8,
        preprocessing=None,
        norm_scale_init="ones",
        **kwargs,
    ):
        network, kwargs = self.network_options(network, kwargs, threshold=1e-2, dropout=0.5)
        modalities = check_modalities(modalities)
        if not 3 <= int(levels) <= 8:
            raise ValueError(f"levels must be in [3, 8] (8 is the official U-Net-256), got {levels}.")
        levels = int(levels)
        if decoder_norms not in DECODER_NORMS:
            raise ValueError(f"decoder_norms must be one of {DECODER_NORMS}, got {decoder_norms!r}.")
        num_modalities = len(modalities)

        # === Layers ===
        def make_streams(share_norms=None):
            return Streams.for_network(
                num_modalities,
                network,
                norm="instance",
                share_norms=share_norms,
                kernel_initializer=fresh_initializer(PIX2PIX_INIT),
                norm_options={"scale_init": norm_scale_init},
            )

        encoder = make_streams()
        decoder = make_streams(share_norms=decoder_norms == "shared")
        fuse = fusion_hook(encoder, network.fusion, range(1, levels + 1), num_modalities)
        # Official U-Net-256: 8 levels. Fewer levels keep the same pattern for smaller images.
        multipliers = (1, 2, 4, 8, 8, 8, 8, 8)[:levels]
        encoder_widths = [filters * k for k in multipliers]
        decoder_widths = [filters * k for k in reversed(multipliers[:-1])] + [output_channels]
        dropout_blocks = levels - 5  # decoder blocks 1-3 of the official 8-level network
        leaky = keras.layers.LeakyReLU(0.2, name="leaky_relu")

        # === Functional Model ===
        inputs = modality_inputs(modalities, network.input_channels)
        x = encoder.start([inputs[name] for name in modalities])
        skips = []
        for block, width in enumerate(encoder_widths, start=1):
            if block > 1:
                x = encoder.map(leaky, x)
                skips.append(x)
            x = encoder.conv(x, f"conv{block}.conv", width, 4, stride=2, padding=1, use_bias=True)
            if 1 < block < levels:
                x = encoder.exchange_norm(x, f"conv{block}.insnorm_conv")
            x = fuse(x, block)
        drop = keras.layers.Dropout(network.dropout, name="dropout")
        for block, width in enumerate(decoder_widths, start=1):
            x = decoder.relu(x)
            x = decoder.conv(x, f"deconv{block}.deconv", width, 4, stride=2, padding=1, use_bias=True, transpose=True)
            if block < levels:
                x = decoder.norm(x, f"deconv{block}.insnorm_deconv")
            if block <= dropout_blocks:
                x = decoder.map(drop, x)
            if block < levels:
                x = decoder.combine(keras.layers.Concatenate(name=f"skip{block}"), x, skips[-block])
        images = decoder.map(keras.layers.Activation("tanh", name="tanh"), x)
        images = decoder.finish(images, "unstack_streams")
        fused = make_ensemble(network.ensemble, num_modalities)(images)
        outputs = float32_outputs(modalities, images, fused, name="images")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.keep_network_options(modalities=modalities, network=network, preprocessing=preprocessing)
        self.decoder_norms = decoder_norms
        self.norm_scale_init = norm_scale_init
        self.filters = filters
        self.output_channels = output_channels
        self.levels = levels

    def get_config(self):
        return {
            **self.base_config(),
            "decoder_norms": self.decoder_norms,
            "norm_scale_init": self.norm_scale_init,
            "filters": self.filters,
            "output_channels": self.output_channels,
            "levels": self.levels,
        }


def build_unet_generator(modalities, **options):
    """Build a `CENUNetGenerator` (see its docstring for every option).

    Examples:
        >>> generator = build_unet_generator(["shade", "texture"], sparsity=1e-3, filters=4, levels=5)
        >>> sorted(generator.output)
        ['ensemble', 'shade', 'texture']
    """
    return CENUNetGenerator(modalities=modalities, **options)
