"""The fusion baselines CEN is compared with (paper Tables 2 and 4): aggregation and alignment.

Each aggregation layer takes the M streams' features at one stage (a list of
M NHWC tensors of C channels) and returns one fused tensor of C channels;
the builders add it back to every stream, so all M streams (and their
outputs and ensemble) are kept, as in the paper's "our setting". The
alignment layer returns the streams unchanged and adds an MMD loss that pulls
their feature distributions together.
"""

import dataclasses
import itertools
import math

import keras
from keras import ops

FUSIONS = ("exchange", "concat", "average", "self_attention", "align", "cbn")
FUSION_STAGES = ("early", "middle", "late", "all")


@dataclasses.dataclass
class FusionConfig:
    """How the streams are fused: one object from the recipe (`model.fusion`) to the builders'
    `fusion_hook`.

    Args:
        method: "exchange" (CEN: the streams fuse inside their norms) or a
            baseline: "concat", "average", "self_attention", "align", or
            "cbn" (conditional norms: at every site where CEN would exchange,
            the first stream modulates the others' norms; see
            `cenkeras.layers.ConditionalNormalization`).
        stage: where a baseline fuses: "early" (the first fusion point),
            "middle", "late" (the last) or "all". "cbn" fuses at the norm
            sites, whatever the stage.
        alignment_weight: weight of the MMD loss of "align".

    Examples:
        >>> FusionConfig("concat", "late").is_baseline
        True
    """

    method: str = "exchange"
    stage: str = "all"
    alignment_weight: float = 0.1

    @property
    def is_baseline(self):
        """A fusion layer does the fusing (no channel exchange)."""
        return self.method != "exchange"

    @property
    def in_norms(self):
        """The fusion happens inside the norm sites (conditional norms), not between stages."""
        return self.method == "cbn"

    def validate(self, prefix="fusion"):
        """Raise ValueError naming `<prefix>.<field>` for a value out of range."""
        if self.method not in FUSIONS:
            raise ValueError(f"{prefix}.method must be one of {list(FUSIONS)}, got {self.method!r}.")
        if self.stage not in FUSION_STAGES:
            raise ValueError(f"{prefix}.stage must be one of {list(FUSION_STAGES)}, got {self.stage!r}.")
        if not (math.isfinite(self.alignment_weight) and self.alignment_weight >= 0):
            raise ValueError(f"{prefix}.alignment_weight must be a finite number >= 0, got {self.alignment_weight}.")
        return self

    @classmethod
    def coerce(cls, value):
        """A `FusionConfig` from itself, its dict (a saved config) or None (CEN's exchange)."""
        if isinstance(value, cls):
            return value
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"fusion must be a FusionConfig (or its dict), got {value!r}.")
        return cls(**(value or {}))


def _check_streams(inputs, layer):
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ValueError(f"{layer.name} fuses a list of at least 2 streams, got {type(inputs).__name__}.")


@keras.saving.register_keras_serializable(package="cenkeras")
class ConcatFusion(keras.layers.Layer):
    """Concatenate the M streams along channels and merge them with a 1x1 convolution to C channels.

    Fusion parameters: M x C x C + C.

    Examples:
        >>> fuse = ConcatFusion()
        >>> tuple(fuse([keras.ops.ones((1, 8, 8, 4)), keras.ops.zeros((1, 8, 8, 4))]).shape)
        (1, 8, 8, 4)
    """

    def build(self, input_shape):
        channels = input_shape[0][-1]
        self.merge = keras.layers.Conv2D(channels, 1, name="merge", dtype=self.dtype_policy)
        self.merge.build((*input_shape[0][:-1], channels * len(input_shape)))

    def call(self, inputs):
        _check_streams(inputs, self)
        return self.merge(ops.concatenate(list(inputs), axis=-1))

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="cenkeras")
class AverageFusion(keras.layers.Layer):
    """The mean of the M streams (no parameters).

    Examples:
        >>> float(AverageFusion()([keras.ops.ones((1, 2, 2, 3)), keras.ops.zeros((1, 2, 2, 3))])[0, 0, 0, 0])
        0.5
    """

    def call(self, inputs):
        _check_streams(inputs, self)
        return ops.mean(ops.stack(list(inputs), axis=0), axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


@keras.saving.register_keras_serializable(package="cenkeras")
class SelfAttentionFusion(keras.layers.Layer):
    """SSMA-style gated fusion (Valada et al., 2019): gates computed from all streams reweight them.

    The concatenated streams (M x C channels) go through a 3x3 bottleneck
    convolution (M x C / `reduction` channels, ReLU) and a 3x3 convolution
    back to M x C channels with a sigmoid; the gates multiply the
    concatenation, and a 1x1 convolution merges it to C channels.

    Examples:
        >>> fuse = SelfAttentionFusion(reduction=2)
        >>> tuple(fuse([keras.ops.ones((1, 8, 8, 4)), keras.ops.zeros((1, 8, 8, 4))]).shape)
        (1, 8, 8, 4)
    """

    def __init__(self, reduction=16, **kwargs):
        super().__init__(**kwargs)
        if int(reduction) < 1:
            raise ValueError(f"{self.name}: reduction must be >= 1, got {reduction}.")
        self.reduction = int(reduction)

    def build(self, input_shape):
        channels = input_shape[0][-1]
        total = channels * len(input_shape)
        hidden = max(total // self.reduction, 1)
        spatial = tuple(input_shape[0][:-1])
        self.squeeze = keras.layers.Conv2D(
            hidden, 3, padding="same", activation="relu", name="squeeze", dtype=self.dtype_policy
        )
        self.gate = keras.layers.Conv2D(
            total, 3, padding="same", activation="sigmoid", name="gate", dtype=self.dtype_policy
        )
        self.merge = keras.layers.Conv2D(channels, 1, name="merge", dtype=self.dtype_policy)
        self.squeeze.build((*spatial, total))
        self.gate.build((*spatial, hidden))
        self.merge.build((*spatial, total))

    def call(self, inputs):
        _check_streams(inputs, self)
        stacked = ops.concatenate(list(inputs), axis=-1)
        return self.merge(stacked * self.gate(self.squeeze(stacked)))

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


def maximum_mean_discrepancy(x, y, bandwidths=(0.5, 1.0, 2.0, 4.0)):
    """Squared MMD between two sets of feature vectors `x` (N, D) and `y` (N', D).

    A sum of Gaussian kernels with the given bandwidths (relative to the
    features' mean squared distance, so it adapts to their scale). The
    biased estimate is used: exactly 0 when the two sets are equal, > 0
    when their distributions differ.
    """
    x, y = ops.cast(x, "float32"), ops.cast(y, "float32")
    both = ops.concatenate([x, y], axis=0)
    squared = ops.sum(both * both, axis=1)
    products = ops.matmul(both, ops.transpose(both))
    distances = ops.maximum(squared[:, None] + squared[None, :] - 2.0 * products, 0.0)
    scale = ops.stop_gradient(ops.mean(distances)) + 1e-12
    kernel = sum(ops.exp(-distances / (scale * b)) for b in bandwidths)
    n = ops.shape(x)[0]
    k_xx, k_yy, k_xy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return ops.mean(k_xx) + ops.mean(k_yy) - 2.0 * ops.mean(k_xy)


@keras.saving.register_keras_serializable(package="cenkeras")
class FeatureAlignment(keras.layers.Layer):
    """Alignment fusion: the streams pass unchanged; `weight` x MMD between every pair is a loss.

    Each stream's features are resized (antialiased) to `grid` x `grid`
    positions; every position of every image is one sample (a C-vector) of
    that stream's feature distribution. In training the loss is in `model.losses`.

    Examples:
        >>> align = FeatureAlignment(weight=0.1)
        >>> a, b = keras.random.normal((2, 8, 8, 4)), keras.random.normal((2, 8, 8, 4))
        >>> outputs = align([a, b], training=True)
    """

    def __init__(self, weight=0.1, grid=8, **kwargs):
        super().__init__(**kwargs)
        if not float(weight) >= 0:
            raise ValueError(f"{self.name}: weight must be >= 0, got {weight}.")
        self.weight = float(weight)
        self.grid = int(grid)

    def _samples(self, x):
        # Area-like downsampling to a fixed grid keeps the N x N kernel small at any input size.
        pooled = ops.image.resize(
            ops.cast(x, "float32"), (self.grid, self.grid), interpolation="bilinear", antialias=True
        )
        return ops.reshape(pooled, (-1, ops.shape(pooled)[-1]))

    def discrepancy(self, inputs):
        """Mean squared MMD over all pairs of streams."""
        samples = [self._samples(x) for x in inputs]
        pairs = list(itertools.combinations(samples, 2))
        return sum(maximum_mean_discrepancy(a, b) for a, b in pairs) / len(pairs)

    def call(self, inputs, training=None):
        _check_streams(inputs, self)
        if training and self.weight:  # a training loss only: inference (and export) skips it
            self.add_loss(self.weight * self.discrepancy(inputs))
        return list(inputs)

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "grid": self.grid}


def fusion_layer(method, name, alignment_weight=0.1):
    """The layer of fusion `method` at one stage (None for "exchange" and "cbn", which fuse inside
    the norms)."""
    if method in ("exchange", "cbn"):
        return None
    if method == "concat":
        return ConcatFusion(name=name)
    if method == "average":
        return AverageFusion(name=name)
    if method == "self_attention":
        return SelfAttentionFusion(name=name)
    if method == "align":
        return FeatureAlignment(alignment_weight, name=name)
    raise ValueError(f"Unknown fusion {method!r}; expected one of {FUSIONS}.")


def fusion_points(stage, points):
    """Where fusion happens: "early" (the first of the network's `points`), "middle", "late" (the
    last) or "all".

    "middle" is the point at index (n - 1) // 2: the segmenters' layer2 of (stem, layer1-4), and
    the U-Net-256's 4th of its 8 encoder blocks, as the paper places it (Sec. 4.2: "the 1st,
    4th, 8th conv layers").
    """
    if stage not in FUSION_STAGES:
        raise ValueError(f"Unknown fusion stage {stage!r}; expected one of {FUSION_STAGES}.")
    points = list(points)
    middle = points[(len(points) - 1) // 2]
    chosen = {"early": points[:1], "middle": [middle], "late": points[-1:], "all": points}
    return chosen[stage]


def fusion_hook(streams, fusion, points, num_modalities):
    """`fuse(xs, point)` for a builder: `fusion` (a `FusionConfig`) at its stage's `points`,
    identity elsewhere.

    Also checks the combination: baselines need at least two streams.
    """
    if fusion.method not in FUSIONS:
        raise ValueError(f"Unknown fusion {fusion.method!r}; expected one of {FUSIONS}.")
    chosen = set(fusion_points(fusion.stage, points))
    if fusion.is_baseline and num_modalities < 2:
        raise ValueError(f"fusion {fusion.method!r} needs at least 2 modalities, got {num_modalities}.")

    def fuse(xs, point):
        if point not in chosen:
            return xs
        layer = fusion_layer(fusion.method, f"fusion_{point}", fusion.alignment_weight)
        return streams.fuse(xs, layer, f"fusion_{point}")

    return fuse
