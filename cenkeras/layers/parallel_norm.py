"""Private (per-modality) normalization for M parallel streams."""

import dataclasses

import keras
from keras import ops

from cenkeras.layers.instance_norm import InstanceNormalization, instance_moments
from cenkeras.layers.presence import check_stream_count, present_modalities
from cenkeras.layers.stacking import broadcast_per_stream, stacked_view, stream_rows, stream_view, unstream_rows

NORM_KINDS = ("batch", "instance")
# How norm scales start: ones, or U(0, 1) as PyTorch before 1.2 (see ParallelNormalization).
SCALE_INITS = ("ones", "uniform")
# Keyword arguments that belong to keras.layers.Layer, not to the norms.
_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "input_shape", "batch_input_shape")


def make_norm(kind, name, gamma_regularizer=None, **options):
    """One normalization layer with PyTorch's defaults (epsilon 1e-5, momentum 0.1).

    `kind` is "batch" (`keras.layers.BatchNormalization`) or "instance"
    (`InstanceNormalization`, which can track running statistics).
    """
    options = {"epsilon": 1e-5, "momentum": 0.9, **options}
    if kind == "batch":
        return keras.layers.BatchNormalization(name=name, gamma_regularizer=gamma_regularizer, **options)
    if kind == "instance":
        return InstanceNormalization(name=name, gamma_regularizer=gamma_regularizer, **options)
    raise ValueError(f"Unknown norm {kind!r}; expected one of {NORM_KINDS}.")


def _check_num_modalities(num_modalities):
    if isinstance(num_modalities, bool) or not isinstance(num_modalities, int) or num_modalities < 1:
        raise ValueError(f"num_modalities must be an integer >= 1, got {num_modalities!r}.")


@keras.saving.register_keras_serializable(package="cenkeras")
class ParallelNormalization(keras.layers.Layer):
    """M normalization layers, one per modality, applied stream by stream.

    This is every normalization site of a CEN network that does not exchange
    channels: the convolutions are shared between the modalities, the norms
    stay private. The norms are `layer.norms[m]`, each with its `gamma`.

    The layer takes either a list of M tensors (one per stream) or one
    tensor holding the M streams stacked along the batch axis (stream m in
    rows [m * B, (m + 1) * B), see `cenkeras.layers.stacking`), and returns
    the same structure. Called with `present=(indices)`, it takes only those
    modalities' streams (a missing sensor: see `cenkeras.layers.presence`).

    A norm that normalises with its running statistics (a frozen or
    inference-mode BatchNorm, an InstanceNorm at inference) is the affine map
    `x * scale + shift`; with `affine_inference` the layer applies it in the
    compute dtype as one multiply-add, with `scale` and `shift` folded in
    float32 from the norm's variables. Under `mixed_bfloat16` that skips the
    cast to float32 and back that the Keras norms make around every call.

    Args:
        num_modalities: M, the number of streams.
        norm: "batch" or "instance".
        share_norms: one norm for all streams (the paper's "shared BN"
            ablation); `norms[m]` is then the same layer for every m.
        freeze_statistics: always normalise with the running statistics,
            even in training, while the scales and offsets still learn (the
            official segmentation training runs BatchNorm this way).
        affine_inference: apply running-statistics norms as a folded
            multiply-add in the compute dtype (identical in float32).
        lone_norms: a second set of M norms, `alone_norms[m]`, that stream m
            uses instead of `norms[m]` when it is the only one present (a
            missing partner modality): its own scales, shifts and running
            statistics, trained where that modality runs alone (the lone
            passes of `train.lone_weight`, or the batches of modality
            dropout that keep it alone), without the exchange's L1 term.
            Streams run together use `norms` as before.
        scale_init: how the norm scales start: "ones" (Keras, and PyTorch
            from 1.2 on) or "uniform", drawn from U(0, 1) per norm as
            PyTorch before 1.2 did (`_BatchNorm.reset_parameters`, which its
            InstanceNorm inherited; the official CEN translation code pins
            PyTorch 1.0). Starting spread over (0, 1), some scales are near
            the exchange threshold from the first step.
        **norm_options: passed to every norm (epsilon, momentum, ...).

    Examples:
        >>> norm = ParallelNormalization(2, norm="batch")
        >>> rgb, depth = keras.ops.ones((1, 8, 8, 16)), keras.ops.zeros((1, 8, 8, 16))
        >>> outputs = norm([rgb, depth])
        >>> len(outputs), outputs[0].shape
        (2, TensorShape([1, 8, 8, 16]))
    """

    def __init__(
        self,
        num_modalities,
        norm="batch",
        share_norms=False,
        freeze_statistics=False,
        affine_inference=True,
        scale_init="ones",
        lone_norms=False,
        **kwargs,
    ):
        norm_options = {key: kwargs.pop(key) for key in list(kwargs) if key not in _LAYER_KWARGS}
        super().__init__(**kwargs)
        _check_num_modalities(num_modalities)
        if norm not in NORM_KINDS:
            raise ValueError(f"{self.name}: unknown norm {norm!r}; expected one of {NORM_KINDS}.")
        if "gamma_regularizer" in norm_options:
            raise ValueError(f"{self.name}: gamma_regularizer is set by the layer itself (see `sparsity`).")
        if scale_init not in SCALE_INITS:
            raise ValueError(f"{self.name}: unknown scale_init {scale_init!r}; expected one of {SCALE_INITS}.")
        self.scale_init = scale_init
        self.num_modalities = num_modalities
        self.norm = norm
        self.share_norms = bool(share_norms)
        self.freeze_statistics = bool(freeze_statistics)
        self.affine_inference = bool(affine_inference)
        self.norm_options = norm_options
        self.norms = self._make_norms()
        # With one modality there is never a partner to miss.
        self.lone_norms = bool(lone_norms) and num_modalities > 1
        self.alone_norms = self._make_alone_norms() if self.lone_norms else []
        # While set, inference reads these instead of the variables: a graph traced meanwhile holds
        # them as constants (how an exported graph carries its norms).
        self.frozen_constants = None

    def _gamma_regularizer(self, modality):
        """Sparsity penalty for modality m's norm; none at a plain norm site."""
        return None

    @property
    def _norm_prefix(self):
        return "bn" if self.norm == "batch" else "insnorm"

    def _new_norm(self, name, gamma_regularizer=None):
        # A new unseeded initializer per norm: each draws its own values, fixed by the run's seed.
        uniform = self.scale_init == "uniform"
        scales = keras.initializers.RandomUniform(0, 1) if uniform else "ones"
        options = {"dtype": self.dtype_policy, **self.norm_options}
        return make_norm(self.norm, name, gamma_regularizer, gamma_initializer=scales, **options)

    def _make_norms(self):
        prefix = self._norm_prefix
        if self.share_norms:
            return [self._new_norm(prefix, self._gamma_regularizer(None))] * self.num_modalities
        return [self._new_norm(f"{prefix}_{m}", self._gamma_regularizer(m)) for m in range(self.num_modalities)]

    def _make_alone_norms(self):
        """One norm per modality for when it runs alone: no sparsity term (its channels are not
        given away to anyone), private even under `share_norms`."""
        return [self._new_norm(f"{self._norm_prefix}_{m}_alone") for m in range(self.num_modalities)]

    @property
    def unique_norms(self):
        """The distinct norm layers of the streams run together (one when `share_norms`)."""
        return self.norms[:1] if self.share_norms else self.norms

    def every_norm(self):
        """Every distinct norm layer: `unique_norms`, then the `alone_norms`. (A method, not a
        property: Keras' weight files name a layer by the first attribute that holds it, in
        alphabetical order, and a property holding the norms would rename them.)"""
        return self.unique_norms + self.alone_norms

    def present_norms(self, present):
        """The norms of the `present` modalities (indices): a lone modality's own under `lone_norms`."""
        if self.alone_norms and len(present) == 1:
            return [self.alone_norms[present[0]]]
        return [self.norms[m] for m in present]

    def _constant_rows(self, present):
        """Rows of `InferenceConstants.scale` / `.shift` holding the `present_norms`."""
        if self.alone_norms and len(present) == 1:
            return [self.num_modalities + present[0]]
        return list(present)

    def _check_inputs(self, shapes):
        if not isinstance(shapes, (list, tuple)) or len(shapes) != self.num_modalities:
            got = len(shapes) if isinstance(shapes, (list, tuple)) else "a single tensor"
            raise ValueError(
                f"{self.name}: expected a list of {self.num_modalities} tensors (one per modality), got {got}."
            )
        channels = {shape[-1] for shape in shapes}
        if len(channels) != 1:
            raise ValueError(
                f"{self.name}: all modalities must have the same channel count, got shapes "
                f"{[tuple(s) for s in shapes]}."
            )

    def build(self, input_shape):
        if _is_single_shape(input_shape):
            # One tensor with the M streams stacked along the batch axis.
            shape = tuple(input_shape)
        else:
            self._check_inputs(input_shape)
            shape = tuple(input_shape[0])
        for norm in self.every_norm():
            norm.build(shape)
        self.channels = shape[-1]

    def normalize(self, inputs, training=None, present=None, rows=False):
        """Each stream through its own norm; a stacked tensor stays stacked.

        `present` names the modalities `inputs` holds (all M when None).
        `rows=True` returns a stacked result as its (M, B x H x W, C) rows
        (`stream_rows`), for the exchange to work on without a second view.
        """
        present = present_modalities(present, self.num_modalities, self.name)
        norms = self.present_norms(present)
        count = len(present)
        norm_training = False if self.freeze_statistics else training
        stacked = not isinstance(inputs, (list, tuple))
        if not stacked:
            check_stream_count(inputs, present, self.name)
        if self.affine_inference and all(_uses_running_statistics(n, norm_training) for n in norms):
            scale, shift = self._inference_affine(norms, present)  # (count, 1, C)
            if stacked:
                y = stream_rows(inputs, count) * ops.cast(scale, inputs.dtype) + ops.cast(shift, inputs.dtype)
                return y if rows else unstream_rows(y, inputs)
            return [x * ops.cast(scale[i], x.dtype) + ops.cast(shift[i], x.dtype) for i, x in enumerate(inputs)]
        if stacked and self.norm == "instance" and norm_training:
            y = self._stacked_instance_statistics(inputs, norms)
        elif stacked:
            streams = ops.split(inputs, count, axis=0)
            y = ops.concatenate([norm(x, training=norm_training) for norm, x in zip(norms, streams)], axis=0)
        else:
            return [norm(x, training=norm_training) for norm, x in zip(norms, inputs)]
        return stream_rows(y, count) if rows else y

    def _inference_affine(self, norms, present):
        """(count, 1, C) scale and shift of the present norms on running statistics (broadcasting
        over `stream_rows`): the frozen constants while they are set, else folded from the norms'
        variables in the graph."""
        constants = self.frozen_constants
        if constants is not None and constants.scale is not None:
            rows = self._constant_rows(present)
            # Shaped in NumPy: one graph node each.
            return ops.convert_to_tensor(constants.scale[rows, None]), ops.convert_to_tensor(
                constants.shift[rows, None]
            )
        scale, shift = _folded_affine(norms)
        return ops.expand_dims(scale, 1), ops.expand_dims(shift, 1)

    @property
    def folds_at_inference(self):
        """Whether inference (`training=False`) applies every norm as the folded multiply-add."""
        return self.affine_inference and all(_uses_running_statistics(n, False) for n in self.every_norm())

    def inference_constants(self):
        """The values inference computes from this layer's weights alone, now, as NumPy.

        A `InferenceConstants` whose `scale` and `shift` are float32 (M, C)
        with `norms[m](x) == x * scale[m] + shift[m]` at inference (None
        where a norm normalises with the sample's own statistics); under
        `lone_norms`, (2M, C) with `alone_norms[m]` in row M + m. Run it
        eagerly: it reads the variables' current values.
        """
        if not self.folds_at_inference:
            return InferenceConstants()
        scale, shift = _folded_affine(self.norms + self.alone_norms)
        return InferenceConstants(scale=ops.convert_to_numpy(scale), shift=ops.convert_to_numpy(shift))

    def _stacked_instance_statistics(self, x, norms):
        """Training-mode instance norms on stacked streams: the statistics are per sample anyway,
        so only the scales, shifts and running averages need the stream view (no split, no concat)."""
        count = len(norms)
        stacked = ops.cast(x, "float32")
        mean, variance = instance_moments(stacked)
        means = stream_view(mean, count)
        variances = stream_view(variance, count)
        for m, norm in enumerate(norms):  # a shared norm updates once per stream, as per-stream calls do
            if norm.track_running_stats:
                norm._update_running_stats(stacked, means[m], variances[m])
        inv = stream_view(ops.rsqrt(variance + norms[0].epsilon), count)
        rank = len(x.shape)
        if norms[0].scale:
            inv = inv * broadcast_per_stream(ops.stack([ops.cast(n.gamma, "float32") for n in norms]), rank)
        y = (stream_view(stacked, count) - means) * inv
        if norms[0].center:
            y = y + broadcast_per_stream(ops.stack([ops.cast(n.beta, "float32") for n in norms]), rank)
        return ops.cast(stacked_view(y), x.dtype)

    def call(self, inputs, training=None, present=None):
        return self.normalize(inputs, training=training, present=present)

    def compute_output_shape(self, input_shape):
        if _is_single_shape(input_shape):
            return tuple(input_shape)
        return [tuple(shape) for shape in input_shape]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_modalities": self.num_modalities,
                "norm": self.norm,
                "share_norms": self.share_norms,
                "freeze_statistics": self.freeze_statistics,
                "affine_inference": self.affine_inference,
                "scale_init": self.scale_init,
                "lone_norms": self.lone_norms,
                **self.norm_options,
            }
        )
        return config


@dataclasses.dataclass(frozen=True)
class InferenceConstants:
    """What a norm site computes from its weights alone at inference, as NumPy arrays (or None).

    `scale`, `shift`: float32 (M, C), the folded running-statistics norms
    (then the M `alone_norms` in rows M .. 2M - 1 of a layer with `lone_norms`);
    `masks`: bool (M, C), the exchange's replaced channels. A layer holding
    them as `frozen_constants` uses them instead of its variables, so a
    graph traced meanwhile carries them as constants.
    """

    scale: object = None
    shift: object = None
    masks: object = None


def _is_single_shape(shape):
    """One shape (ints and None), as opposed to a list of M shapes."""
    return all(d is None or isinstance(d, int) for d in shape)


def _uses_running_statistics(norm, training):
    """Whether `norm(x, training=training)` normalises with its running statistics."""
    if isinstance(norm, InstanceNormalization):
        return norm.track_running_stats and not training and not norm.instance_statistics_at_inference
    # keras.layers.BatchNormalization uses batch statistics only when training and trainable.
    return not (training and norm.trainable)


def _folded_affine(norms):
    """float32 (M, C) (scale, shift) with norms[m](x) == x * scale[m] + shift[m] on running statistics.

    The M norms' weights are stacked first and folded once: per-norm folding
    took 15 graph nodes a norm, half of a serving graph's nodes. (The norms of
    one layer share their options: epsilon, scale, center.)
    """

    def stacked(weight):
        return ops.cast(ops.stack([getattr(norm, weight).value for norm in norms]), "float32")

    first = norms[0]
    scale = ops.rsqrt(stacked("moving_variance") + first.epsilon)
    if first.scale:
        scale = scale * stacked("gamma")
    shift = -stacked("moving_mean") * scale
    if first.center:
        shift = shift + stacked("beta")
    return scale, shift
