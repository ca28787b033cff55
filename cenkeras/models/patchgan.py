"""The PatchGAN discriminator of the official CEN pix2pix code."""

import keras

from cenkeras.layers import InstanceNormalization, Conv2D
from cenkeras.layers.parallel_norm import SCALE_INITS
from cenkeras.models.streams import PIX2PIX_INIT, fresh_initializer

# The official Discriminator builds instance norms in its first and last
# blocks that forward() never uses; their checkpoint keys are skipped.
UNUSED_TORCH_MODULES = ("conv1.insnorm", "conv5.insnorm")


@keras.saving.register_keras_serializable(package="cenkeras")
class PatchGANDiscriminator(keras.Model):
    """70x70 PatchGAN on (condition, image) pairs, as in the official code.

    The condition (an input domain) and the image (real or generated) are
    concatenated on the channel axis and go through five 4x4 convolutions
    (stride 2, 2, 2, 1, 1; LeakyReLU 0.2 before all but the first; instance
    norms after blocks 2-4) to a map of per-patch real/fake probabilities
    (30x30 for 256x256 inputs). One discriminator with one set of norms
    serves every branch of the generator.

    Args:
        filters: width of the first block (64).
        condition_channels: channels of the condition image (3).
        image_channels: channels of the judged image (3).
        activation: "sigmoid" (official: probabilities) or None (logits).
        scale_init: how the instance norm scales start: "ones", or "uniform"
            U(0, 1), as PyTorch 1.0 (the official environment) drew every
            `InstanceNorm2d(affine=True)`'s, the generator's and this one's.

    Examples:
        >>> import numpy as np
        >>> disc = PatchGANDiscriminator(filters=8)
        >>> pair = {"condition": np.zeros((1, 256, 256, 3)), "image": np.zeros((1, 256, 256, 3))}
        >>> disc(pair).shape
        TensorShape([1, 30, 30, 1])
    """

    unused_torch_modules = UNUSED_TORCH_MODULES

    def __init__(
        self, filters=64, condition_channels=3, image_channels=3, activation="sigmoid", scale_init="ones", **kwargs
    ):
        if activation not in ("sigmoid", None):
            raise ValueError(f"activation must be 'sigmoid' or None, got {activation!r}.")
        if scale_init not in SCALE_INITS:
            raise ValueError(f"scale_init must be one of {SCALE_INITS}, got {scale_init!r}.")
        # === Layers ===
        widths = [filters, filters * 2, filters * 4, filters * 8, 1]
        strides = [2, 2, 2, 1, 1]

        # === Functional Model ===
        inputs = {
            "condition": keras.Input((None, None, condition_channels), name="condition"),
            "image": keras.Input((None, None, image_channels), name="image"),
        }
        x = keras.layers.Concatenate(name="pair")([inputs["condition"], inputs["image"]])
        for block, (width, stride) in enumerate(zip(widths, strides), start=1):
            if block > 1:
                x = keras.layers.LeakyReLU(0.2)(x)
            x = Conv2D(
                width,
                4,
                strides=stride,
                symmetric_padding=1,
                kernel_initializer=fresh_initializer(PIX2PIX_INIT),
                name=f"conv{block}.conv",
            )(x)
            if 1 < block < 5:
                # A fresh initializer per norm: each draws its own scales.
                scales = keras.initializers.RandomUniform(0, 1) if scale_init == "uniform" else "ones"
                x = InstanceNormalization(gamma_initializer=scales, name=f"conv{block}.insnorm")(x)
        if activation == "sigmoid":
            x = keras.layers.Activation("sigmoid")(x)
        outputs = keras.layers.Activation("linear", dtype="float32", name="patches")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.filters = filters
        self.condition_channels = condition_channels
        self.image_channels = image_channels
        self.activation = activation
        self.scale_init = scale_init

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "filters": self.filters,
            "condition_channels": self.condition_channels,
            "image_channels": self.image_channels,
            "activation": self.activation,
            "scale_init": self.scale_init,
        }


def build_patchgan_discriminator(**options):
    """Build a `PatchGANDiscriminator` (see its docstring for every option)."""
    return PatchGANDiscriminator(**options)
