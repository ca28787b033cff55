"""Instance normalization that can track running statistics."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cenkeras")
class InstanceNormalization(keras.layers.Layer):
    """Per-sample, per-channel normalization over the spatial axes (NHWC).

    Unlike `keras.layers.GroupNormalization(groups=-1)`, this layer can keep
    running averages of the instance statistics and use them at inference,
    as PyTorch's `nn.InstanceNorm2d(affine=True, track_running_stats=True)`
    does (the official CEN pix2pix generator depends on it).

    In training the layer normalises each sample with its own mean and
    (biased) variance and moves the running averages towards the batch mean
    of those statistics, the variance taken unbiased as PyTorch does. At
    inference it uses the running averages when `track_running_stats` is on,
    and the instance statistics otherwise.

    Args:
        epsilon: added to the variance (PyTorch's default 1e-5).
        momentum: Keras convention: `moving = momentum * moving + (1 - momentum) * stat`
            (0.9 is PyTorch's momentum 0.1).
        center: learn a per-channel offset `beta`.
        scale: learn a per-channel scale `gamma`.
        track_running_stats: keep running statistics and use them at inference.
        gamma_initializer: initializer of `gamma` ("ones"; PyTorch before 1.2
            drew U(0, 1), see `ParallelNormalization`'s `scale_init`).
        gamma_regularizer: regularizer on `gamma` (e.g. a sparsity penalty).

    Examples:
        >>> norm = InstanceNormalization()
        >>> y = norm(keras.random.normal((2, 8, 8, 4)), training=True)
        >>> y.shape
        TensorShape([2, 8, 8, 4])
    """

    def __init__(
        self,
        epsilon=1e-5,
        momentum=0.9,
        center=True,
        scale=True,
        track_running_stats=True,
        gamma_initializer="ones",
        gamma_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.momentum = float(momentum)
        self.center = center
        self.scale = scale
        self.track_running_stats = track_running_stats
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.supports_masking = True
        # Run-time switch, not part of the config: the official pix2pix evaluation runs the
        # generator in training mode, i.e. with instance statistics (see `use_instance_statistics`).
        self.instance_statistics_at_inference = False

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.name}: the channel axis of the input must be known, got shape {input_shape}.")
        self.gamma = None
        self.beta = None
        if self.scale:
            self.gamma = self.add_weight(
                shape=(channels,),
                name="gamma",
                initializer=self.gamma_initializer,
                regularizer=self.gamma_regularizer,
                autocast=False,
            )
        if self.center:
            self.beta = self.add_weight(shape=(channels,), name="beta", initializer="zeros", autocast=False)
        if self.track_running_stats:
            self.moving_mean = self.add_weight(
                shape=(channels,), name="moving_mean", initializer="zeros", trainable=False, autocast=False
            )
            self.moving_variance = self.add_weight(
                shape=(channels,), name="moving_variance", initializer="ones", trainable=False, autocast=False
            )

    def call(self, inputs, training=None):
        # Statistics in float32 even under a bfloat16 policy, as BatchNormalization does
        # (its variables are created with autocast=False for the same reason).
        x = ops.cast(inputs, "float32")
        use_running = self.track_running_stats and not training and not self.instance_statistics_at_inference
        if use_running:
            mean = self.moving_mean
            variance = self.moving_variance
        else:
            mean, variance = instance_moments(x)
            if training and self.track_running_stats:
                self._update_running_stats(x, mean, variance)
        inv = ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self.gamma
        y = (x - mean) * inv
        if self.beta is not None:
            y = y + self.beta
        return ops.cast(y, inputs.dtype)

    def _update_running_stats(self, x, mean, variance):
        """Move the running averages towards the batch mean of the instance `mean` / `variance` of `x`."""
        spatial = ops.cast(ops.shape(x)[1] * ops.shape(x)[2], "float32")
        # PyTorch feeds the unbiased variance into the running average.
        unbiased = variance * spatial / ops.maximum(spatial - 1.0, 1.0)
        batch_mean = ops.mean(ops.reshape(mean, (-1, ops.shape(x)[-1])), axis=0)
        batch_var = ops.mean(ops.reshape(unbiased, (-1, ops.shape(x)[-1])), axis=0)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + batch_mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + batch_var * (1.0 - m))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "center": self.center,
                "scale": self.scale,
                "track_running_stats": self.track_running_stats,
                "gamma_initializer": keras.initializers.serialize(self.gamma_initializer),
                "gamma_regularizer": keras.regularizers.serialize(self.gamma_regularizer),
            }
        )
        return config


def instance_moments(x):
    """Per-sample, per-channel mean and (biased) variance over the spatial axes of float32 NHWC `x`.

    Two-pass variance: keras.ops.moments uses E[x^2] - E[x]^2, which loses
    precision when a channel's mean is large against its spread.
    """
    mean = ops.mean(x, axis=[1, 2], keepdims=True)
    variance = ops.mean(ops.square(x - ops.stop_gradient(mean)), axis=[1, 2], keepdims=True)
    return mean, variance


def use_instance_statistics(model, enabled=True):
    """Make every InstanceNormalization in `model` normalise with instance statistics at inference.

    The official CEN translation code evaluates its generator in training
    mode: instance statistics, not the running ones. Call this before the
    model's inference function is traced.
    """
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, InstanceNormalization):
            layer.instance_statistics_at_inference = enabled
            count += 1
    return count
