"""Conditional normalization: a fusion baseline where one stream modulates the others' norms."""

import keras
from keras import ops

from cenkeras.layers.parallel_norm import ParallelNormalization
from cenkeras.layers.presence import present_modalities


@keras.saving.register_keras_serializable(package="cenkeras")
class ConditionalNormalization(ParallelNormalization):
    """Private norms whose scales and shifts, for every stream but the first, come from the first stream.

    Conditional BatchNorm (de Vries et al., NeurIPS 2017) predicts a
    per-sample change of a norm's scale and shift from a conditioning
    input. The paper's Section 4.1 uses it as a fusion baseline for RGB-D:
    the depth stream's norms are conditioned on the RGB stream. Here, at
    every site where CEN would exchange, stream m > 0 becomes

        y_m = norm_m(x_m) * (1 + dgamma_m) + dbeta_m
        (dgamma_m, dbeta_m) = MLP_m(global average of norm_0(x_0))

    per sample and channel: a change of the norm's scale and shift
    (gamma (1 + dgamma) and beta + dbeta, up to reparametrisation, since
    norm_m already applies gamma_m and beta_m). The MLP is de Vries' one
    hidden layer (C / `reduction` units, ReLU); its output layer starts at
    zero, so training starts from the plain private norms. The first stream
    (the conditioning one, RGB in the recipes) is not modulated.

    Args:
        num_modalities: M (>= 2 to condition anything).
        reduction: hidden units of each MLP are channels / reduction (at least 1).
        norm, share_norms, freeze_statistics, affine_inference, scale_init,
        **norm_options: as in `ParallelNormalization`.

    Examples:
        >>> layer = ConditionalNormalization(2)
        >>> rgb, depth = layer([keras.ops.ones((2, 4, 4, 8)), keras.ops.zeros((2, 4, 4, 8))])
        >>> depth.shape, layer.conditioning_parameter_count()
        (TensorShape([2, 4, 4, 8]), 41)
    """

    def __init__(self, num_modalities, reduction=16, **kwargs):
        super().__init__(num_modalities, **kwargs)
        if int(reduction) < 1:
            raise ValueError(f"{self.name}: reduction must be >= 1, got {reduction}.")
        self.reduction = int(reduction)

    def build(self, input_shape):
        super().build(input_shape)
        hidden = max(1, self.channels // self.reduction)
        self.hidden_layers, self.modulation_layers = [], []
        for m in range(1, self.num_modalities):
            dense = keras.layers.Dense(hidden, activation="relu", name=f"condition_{m}", dtype=self.dtype_policy)
            dense.build((None, self.channels))
            modulation = keras.layers.Dense(
                2 * self.channels, kernel_initializer="zeros", name=f"modulation_{m}", dtype=self.dtype_policy
            )
            modulation.build((None, hidden))
            self.hidden_layers.append(dense)
            self.modulation_layers.append(modulation)

    def conditioning_parameter_count(self):
        """Parameters of the MLPs: what this layer adds for fusion."""
        layers = self.hidden_layers + self.modulation_layers
        return int(sum(layer.count_params() for layer in layers))

    def call(self, inputs, training=None, present=None):
        present = present_modalities(present, self.num_modalities, self.name)
        normalized = self.normalize(inputs, training=training, present=present)
        if present[0] != 0:  # the conditioning stream is missing: the others keep their plain norms
            return normalized
        stacked = not isinstance(normalized, (list, tuple))
        streams = ops.split(normalized, len(present), axis=0) if stacked else list(normalized)
        condition = ops.mean(streams[0], axis=(1, 2))
        outputs = [streams[0]]
        for m, stream in zip(present[1:], streams[1:]):
            change = self.modulation_layers[m - 1](self.hidden_layers[m - 1](condition))
            scale, shift = ops.split(ops.cast(change, stream.dtype), 2, axis=-1)
            outputs.append(stream * (1.0 + scale[:, None, None, :]) + shift[:, None, None, :])
        return ops.concatenate(outputs, axis=0) if stacked else outputs

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}
