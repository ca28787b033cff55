"""Channel exchanging between modalities: the core of CEN (paper Eq. 6)."""

import dataclasses
import functools
import math
import zlib
from typing import Optional

import keras
import numpy as np
from keras import ops

from cenkeras.layers.parallel_norm import ParallelNormalization
from cenkeras.layers.presence import present_modalities
from cenkeras.layers.sparsity import SliceL1, modality_parts
from cenkeras.layers.stacking import unstream_rows

EXCHANGE_SCOPES = ("all", "part", None)
SPARSITY_SCOPES = ("part", "all")
# How the exchanged channels are chosen and what replaces them (the paper's extra ablations).
EXCHANGE_RULES = ("threshold", "fixed", "random", "discard", "sum", "gated_sum")
# Rules that add the other streams to every channel instead of replacing some channels.
SUMMING_RULES = ("sum", "gated_sum")
# Which norm sites exchange: every block's, or only the first block's of each encoder stage.
EXCHANGE_PLACEMENTS = ("every_block", "downsampling")


def _check(key, ok, must):
    if not ok:
        raise ValueError(f"{key} must {must}.")


def _finite(value, low=0.0, high=math.inf):
    """Whether `value` is a number in [low, high] (a string or None is not)."""
    if isinstance(value, (str, bytes)) or value is None:
        return False
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and low <= value <= high


@dataclasses.dataclass
class ExchangeConfig:
    """How CEN exchanges channels: one object from the recipe (`model.exchange`) through the
    builders to every `ChannelExchange` layer, whose arguments have the same names.

    Args:
        threshold: theta on |gamma| (2e-2 for segmentation, 1e-2 for translation).
        scope: which channels are tested: "all" (official code), "part"
            (modality m's part only: the paper's strict reading) or None (no exchange).
        rule: "threshold" (CEN); the ablations "fixed" and "random" exchange
            `portion` of each part without looking at gamma, "discard" zeroes
            the channels under the threshold instead of exchanging them,
            "sum" adds the other streams' mean to every channel and
            "gated_sum" adds it through a learnt per-channel gate.
        portion: fraction of each part exchanged by "fixed" and "random".
        sparsity_scope: the L1 term on modality m's part of gamma ("part") or on all of it ("all").
        placement: "every_block" (CEN: the `bn2` of every ResNet bottleneck)
            or "downsampling" (the ablation: only the first bottleneck of each
            stage, the one that down-samples; the others keep plain private
            norms). In the U-Net every encoder block down-samples: both are the same.

    Examples:
        >>> ExchangeConfig(scope="part").layer_options()["scope"]
        'part'
    """

    threshold: float = 2e-2
    scope: Optional[str] = "all"
    rule: str = "threshold"
    portion: float = 0.3
    sparsity_scope: str = "part"
    placement: str = "every_block"

    def validate(self, prefix="exchange"):
        """Raise ValueError naming `<prefix>.<field>` for a value out of range."""
        _check(f"{prefix}.threshold", _finite(self.threshold), f"be a finite number >= 0, got {self.threshold!r}")
        _check(
            f"{prefix}.scope", self.scope in EXCHANGE_SCOPES, f"be one of {list(EXCHANGE_SCOPES)}, got {self.scope!r}"
        )
        _check(f"{prefix}.rule", self.rule in EXCHANGE_RULES, f"be one of {list(EXCHANGE_RULES)}, got {self.rule!r}")
        _check(f"{prefix}.portion", _finite(self.portion, high=1.0), f"be in [0, 1], got {self.portion!r}")
        _check(
            f"{prefix}.sparsity_scope",
            self.sparsity_scope in SPARSITY_SCOPES,
            f"be one of {list(SPARSITY_SCOPES)}, got {self.sparsity_scope!r}",
        )
        _check(
            f"{prefix}.placement",
            self.placement in EXCHANGE_PLACEMENTS,
            f"be one of {list(EXCHANGE_PLACEMENTS)}, got {self.placement!r}",
        )
        return self

    def layer_options(self):
        """`ChannelExchange` keyword arguments (the same names; `placement` is the builders')."""
        options = dataclasses.asdict(self)
        options.pop("placement")
        return options

    def exchanges_at(self, block):
        """Whether the `block`-th bottleneck of a stage (0 = the first) exchanges."""
        return self.placement == "every_block" or block == 0

    @classmethod
    def coerce(cls, value, **defaults):
        """An `ExchangeConfig` from itself or its (partial) dict, missing fields from `defaults`."""
        if isinstance(value, cls):
            return dataclasses.replace(value)
        if value is None:
            # Earlier versions took exchange=None for "no exchange": refuse it rather than exchange.
            raise ValueError("exchange=None does not turn the exchange off: pass ExchangeConfig(scope=None).")
        if not isinstance(value, dict):
            raise ValueError(f"exchange must be an ExchangeConfig (or its dict), got {value!r}.")
        return cls(**{**defaults, **value})


@keras.saving.register_keras_serializable(package="cenkeras")
class ChannelExchange(ParallelNormalization):
    """Private norms per modality, then channel exchange where |gamma| is small.

    Called on a list of M NHWC tensors, it normalises stream m with its own
    norm `norms[m]` and then, for every channel c of stream m whose scale
    satisfies `|gamma_m[c]| < threshold`, replaces the channel with the mean
    of the other streams' normalised channel c:

        y_m[c] = norm_m(x_m)[c]                          if |gamma_m[c]| >= threshold
        y_m[c] = mean_{k != m} norm_k(x_k)[c]            otherwise

    `scope="all"` tests every channel (what the official code does; for M = 2
    it is the official exchange exactly); `scope="part"` only tests the
    channels of modality m's part (M contiguous parts with
    `numpy.array_split` bounds: the paper's strict reading); `scope=None`
    turns the exchange off. A channel exactly at the threshold is kept. With
    one modality nothing is exchanged.

    Called with `present=(indices)` (a missing sensor), it takes only those
    modalities' streams: a channel under the threshold takes the mean of the
    present other streams, and a stream with no other present keeps its own
    channels (the summing rules likewise add the present others' mean).

    The mask is computed under stop-gradient: a replaced channel passes no
    gradient back to its own stream (nor to its own gamma and beta), the
    donor streams receive it. The exchange is one elementwise select per
    modality on a per-channel mask.

    `sparsity` > 0 adds the L1 penalty `sparsity * sum |gamma_m[part m]|`
    (or over all channels with `sparsity_scope="all"`) as a regularization
    loss on each gamma, so it is in `model.losses`.

    `rule` selects the paper's ablations of the exchange itself:
    "threshold" (CEN, above); "fixed", the first `portion` of modality m's
    part is always exchanged, whatever gamma; "random", a random `portion`
    of its part (drawn once from `seed` and the layer name, then fixed, like
    ShuffleNet's channel shuffle); "discard", channels under the threshold
    are set to zero instead of replaced (no information crosses streams).
    "sum" and "gated_sum" drop the selection altogether (the paper's
    "summing activations instead of exchanging": Eq. 6 without its choice
    between a stream's own channel and the others'): every channel of
    stream m becomes its own plus the others' mean,

        y_m[c] = norm_m(x_m)[c] + g_m[c] * mean_{k != m} norm_k(x_k)[c]

    with g_m = 1 for "sum" and g_m = sigmoid(w_m) for "gated_sum", w_m a
    learnt per-channel vector per modality starting at 0 (a gate of 0.5).
    The threshold plays no part there; the L1 term still applies if set.

    Args:
        num_modalities: M, the number of streams.
        threshold: theta (2e-2 for segmentation, 1e-2 for translation).
        norm: "batch" or "instance".
        scope: "all", "part" or None (no exchange).
        sparsity: lambda of the L1 penalty (0 disables it).
        sparsity_scope: "part" (modality m's part of gamma_m) or "all".
        rule: "threshold", "fixed", "random", "discard", "sum" or "gated_sum" (see above).
        portion: fraction of each modality's part exchanged by "fixed" and "random".
        seed: of the "random" channel choice.
        share_norms: one norm shared by all streams (ablation).
        freeze_statistics: normalise with running statistics in training too.
        **norm_options: passed to every norm (epsilon, momentum, ...).

    Examples:
        >>> layer = ChannelExchange(2, threshold=2e-2, sparsity=2e-4)
        >>> rgb = keras.random.normal((2, 16, 16, 8))
        >>> depth = keras.random.normal((2, 16, 16, 8))
        >>> rgb_out, depth_out = layer([rgb, depth], training=True)
        >>> layer.exchange_statistics()[0]["below_threshold"]
        0
    """

    def __init__(
        self,
        num_modalities,
        threshold=2e-2,
        norm="batch",
        scope="all",
        sparsity=0.0,
        sparsity_scope="part",
        rule="threshold",
        portion=0.3,
        seed=0,
        **kwargs,
    ):
        # The exchange options are checked where a recipe's are, with the same words.
        layer = kwargs.get("name") or "ChannelExchange"
        ExchangeConfig(threshold, scope, rule, portion, sparsity_scope).validate(prefix=layer)
        _check(f"{layer}.sparsity", _finite(sparsity), f"be a finite number >= 0, got {sparsity!r}")
        # The sparsity settings must exist before the norms (and their regularizers) are made.
        self.threshold = float(threshold)
        self.scope = scope
        self.sparsity = float(sparsity)
        self.sparsity_scope = sparsity_scope
        self.rule = rule
        self.portion = float(portion)
        self.seed = int(seed)
        super().__init__(num_modalities, norm=norm, **kwargs)

    def _gamma_regularizer(self, modality):
        if self.sparsity == 0.0:
            return None
        return _PartL1(self.sparsity, self.num_modalities, modality, self.sparsity_scope)

    def build(self, input_shape):
        super().build(input_shape)
        if self.rule == "gated_sum":
            self.gates = self.add_weight(
                name="gates", shape=(self.num_modalities, self.channels), initializer="zeros", dtype="float32"
            )
        self.parts = modality_parts(self.channels, self.num_modalities)
        self._chosen = [self._chosen_channels(m) for m in range(self.num_modalities)]
        for norm in self.unique_norms:
            regularizer = norm.gamma_regularizer
            if isinstance(regularizer, _PartL1):
                regularizer.bind(self.channels)

    @property
    def exchanges(self):
        return self.scope is not None and self.num_modalities > 1

    def _chosen_channels(self, modality):
        """The fixed mask of the "fixed" and "random" rules: `portion` of the modality's part."""
        start, stop = self.parts[modality]
        count = int(round(self.portion * (stop - start)))
        chosen = np.zeros(self.channels, dtype=bool)
        if self.rule == "fixed":
            chosen[start : start + count] = True
        elif self.rule == "random":
            rng = np.random.default_rng([self.seed, zlib.crc32(self.name.encode()), modality])
            chosen[start + rng.choice(stop - start, size=count, replace=False)] = True
        return chosen

    def exchange_masks(self, present=None):
        """Per modality (of `present`, default all), a boolean (C,) tensor: True where the channel is replaced."""
        present = present_modalities(present, self.num_modalities, self.name)
        return list(ops.unstack(self._stacked_masks(present)))

    def _stacked_masks(self, present, rows=False):
        """(len(present), C) booleans: the present modalities' exchange masks, from their gammas
        stacked; (len(present), 1, C) with `rows`, to broadcast over `stream_rows`."""
        masks = self._constant_masks(present)
        if masks is not None:
            # Shaped in NumPy: a graph traced on constants gets one node, not an ExpandDims too.
            return ops.convert_to_tensor(masks[:, None] if rows else masks)
        gamma = ops.stack([self.norms[m].gamma.value for m in present])
        gamma = ops.stop_gradient(ops.cast(gamma, "float32"))
        masks = ops.abs(gamma) < ops.cast(self.threshold, "float32")
        if self.scope == "part":
            masks = ops.logical_and(masks, ops.convert_to_tensor(np.stack([self._part_mask(m) for m in present])))
        return ops.expand_dims(masks, 1) if rows else masks

    def _constant_masks(self, present):
        """The present modalities' masks as a NumPy (len(present), C) array where they do not
        depend on the weights now (the fixed rules, the summing rules, the frozen constants)."""
        if self.rule in ("fixed", "random"):
            return np.stack([self._chosen[m] for m in present])
        if self.rule in SUMMING_RULES:
            return np.ones((len(present), self.channels), dtype=bool)
        constants = self.frozen_constants
        if constants is not None and constants.masks is not None:
            return constants.masks[list(present)]
        return None

    def inference_constants(self):
        constants = super().inference_constants()
        if not self.exchanges or self.rule not in ("threshold", "discard"):
            return constants  # no masks, or fixed ones
        masks = ops.convert_to_numpy(self._stacked_masks(range(self.num_modalities)))
        return dataclasses.replace(constants, masks=masks)

    def _part_mask(self, modality):
        start, stop = self.parts[modality]
        in_part = np.zeros(self.channels, dtype=bool)
        in_part[start:stop] = True
        return in_part

    def call(self, inputs, training=None, present=None):
        present = present_modalities(present, self.num_modalities, self.name)
        # Donors are the present other streams; a stream with none keeps its own channels.
        if not self.exchanges or len(present) == 1:
            return self.normalize(inputs, training=training, present=present)
        if not isinstance(inputs, (list, tuple)):
            rows = self.normalize(inputs, training=training, present=present, rows=True)
            return unstream_rows(self._exchange_rows(rows, present), inputs)
        normalized = self.normalize(inputs, training=training, present=present)
        outputs = []
        summing = self.rule in SUMMING_RULES
        # The summing rules replace no channel: they need gates, not masks.
        gates = self._gate_values(present) if summing else None
        masks = [None] * len(present) if summing else self.exchange_masks(present)
        for i, (y, mask) in enumerate(zip(normalized, masks)):
            if self.rule == "discard":
                donor = ops.zeros_like(y)
            else:
                others = [x for j, x in enumerate(normalized) if j != i]
                donor = others[0] if len(others) == 1 else functools.reduce(ops.add, others) / len(others)
            if gates is not None:
                outputs.append(y + donor * ops.cast(gates[i], y.dtype))
            else:
                outputs.append(ops.where(mask, donor, y))
        return outputs

    def _gate_values(self, present):
        """(len(present), C) weights of the others' mean in the summing rules: 1 for "sum", sigmoid(gates)."""
        if self.rule == "gated_sum":
            return ops.sigmoid(ops.stack([self.gates[m] for m in present]))
        return ops.ones((len(present), self.channels), dtype="float32")

    def _exchange_rows(self, y, present):
        """The exchange on the present streams' (count, N, C) rows (`stream_rows`): one select
        on a (count, 1, C) mask."""
        count = len(present)
        if self.rule == "discard":
            donor = ops.zeros_like(y)
        elif count == 2:
            donor = ops.flip(y, axis=0)
        else:
            # roll(y, -s)[m] is stream m + s: summing s = 1 .. count-1 gives each stream the others' sum.
            rolled = [ops.roll(y, -shift, axis=0) for shift in range(1, count)]
            donor = functools.reduce(ops.add, rolled) / (count - 1)
        if self.rule in SUMMING_RULES:
            gates = ops.expand_dims(self._gate_values(present), 1)
            return y + donor * ops.cast(gates, y.dtype)
        return ops.where(self._stacked_masks(present, rows=True), donor, y)

    def exchange_statistics(self):
        """Per modality: how many channels fall below the threshold, in and outside its part.

        Returns a list of M dicts with `channels`, `part_size`,
        `below_threshold` (all channels), `below_in_part` and
        `below_outside_part`, and `exchanged` (the channels the current
        scope actually replaces). Values are Python ints read from the
        current weights, for logging and plots.
        """
        stats = []
        for m, norm in enumerate(self.norms):
            below = np.abs(np.asarray(keras.ops.convert_to_numpy(norm.gamma), np.float32)) < np.float32(self.threshold)
            in_part = self._part_mask(m)
            if not self.exchanges:
                exchanged = 0
            elif self.rule in ("fixed", "random"):
                exchanged = int(self._chosen[m].sum())
            elif self.rule in SUMMING_RULES:
                exchanged = int(self.channels)  # every channel receives the others' mean
            elif self.scope == "part":
                exchanged = int(np.sum(below & in_part))
            else:
                exchanged = int(np.sum(below))
            stats.append(
                {
                    "channels": int(self.channels),
                    "part_size": int(in_part.sum()),
                    "below_threshold": int(below.sum()),
                    "below_in_part": int(np.sum(below & in_part)),
                    "below_outside_part": int(np.sum(below & ~in_part)),
                    "exchanged": exchanged,
                }
            )
        return stats

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "threshold": self.threshold,
                "scope": self.scope,
                "sparsity": self.sparsity,
                "sparsity_scope": self.sparsity_scope,
                "rule": self.rule,
                "portion": self.portion,
                "seed": self.seed,
            }
        )
        return config


class _PartL1(SliceL1):
    """SliceL1 over modality m's part, whose bounds are known once the layer is built."""

    def __init__(self, strength, num_modalities, modality, scope):
        super().__init__(strength)
        self.num_modalities = num_modalities
        self.modality = modality
        self.scope = scope

    def bind(self, channels):
        if self.scope == "all" or self.modality is None:
            # A shared norm is every modality's norm: its penalty covers all parts.
            self.start, self.stop = 0, None
        else:
            self.start, self.stop = modality_parts(channels, self.num_modalities)[self.modality]

    def get_config(self):
        return {"strength": self.strength, "start": self.start, "stop": self.stop}
