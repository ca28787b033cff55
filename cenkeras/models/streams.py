"""Building blocks that run M modality streams through one network.

A CEN network is one network applied to M streams: every convolution is one
Keras layer called on each stream (Keras shares the weights of a layer
called more than once), every normalization site holds M private norms.
`Streams` makes those layers with the names of the official PyTorch modules
(`layer1.0.conv2`, `layer1.0.bn2`, ...), so that checkpoints map onto them
name for name, and applies them to the M streams, which the builders carry
as `StreamTensors`.

With `stack=True` the M streams travel as one tensor stacked along the
batch axis: every shared layer runs once on an M-times larger batch, and
the norm sites apply their private norms and the exchange to the stacked
tensor. The weights and their names are the same either way, so
checkpoints load into both.
"""

import dataclasses

import keras

from cenkeras.layers import (
    ChannelExchange,
    ConditionalNormalization,
    Conv2D,
    Conv2DTranspose,
    ParallelNormalization,
    StackStreams,
    UnstackStreams,
)

# PyTorch's default convolution init, kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
# Keras' glorot default is ~1.7x larger, which makes the un-normalised RefineNet sums explode.
PYTORCH_DEFAULT_INIT = keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform")
# pix2pix initialises its convolutions from N(0, 0.02) (the official normal_weight_init).
PIX2PIX_INIT = keras.initializers.RandomNormal(0.0, 0.02)


def fresh_initializer(template):
    """A copy of the initializer `template` with a seed of its own, drawn now.

    One unseeded Keras initializer fixes its seed when it is created, and
    every layer given that object draws the same values: same-shaped
    kernels would start equal, and a module-level template would seed
    itself at import time, out of `keras.utils.set_random_seed`'s reach.
    Each layer gets a copy made while it is built instead, so kernels
    differ and a run's seed fixes them all.
    """
    return type(template).from_config(template.get_config())


@dataclasses.dataclass(frozen=True)
class StreamTensors:
    """The M streams at one point of a network.

    `tensors` holds M tensors (one per stream), or, when `stacked`, a
    single tensor with the streams stacked along the batch axis. Builders
    pass it between `Streams` methods and never look inside; a layer that
    takes every stream at once gets `layer_input` and gives back its output
    through `from_layer_output`.
    """

    tensors: tuple
    stacked: bool = False

    def map(self, function):
        """`function` applied to every tensor (each stream, or the stacked tensor)."""
        return StreamTensors(tuple(function(x) for x in self.tensors), self.stacked)

    def map_with(self, functions):
        """The i-th of `functions` applied to the i-th tensor (one layer per stream)."""
        return StreamTensors(tuple(f(x) for f, x in zip(functions, self.tensors)), self.stacked)

    def combine(self, other, function):
        """`function([mine, other's])` tensor by tensor (adds, concatenations, resizes)."""
        if other.stacked != self.stacked:
            raise ValueError("cannot combine stacked streams with separate ones.")
        return StreamTensors(tuple(function([x, y]) for x, y in zip(self.tensors, other.tensors)), self.stacked)

    @property
    def layer_input(self):
        """What a layer over all streams takes: the stacked tensor, or the list of M tensors."""
        return self.tensors[0] if self.stacked else list(self.tensors)

    def from_layer_output(self, output):
        """Streams in this representation from what such a layer returned."""
        return StreamTensors((output,) if self.stacked else tuple(output), self.stacked)


class Streams:
    """Factory of stream-wise layers for a builder.

    Args:
        num_modalities: M.
        share_convs: one convolution for all streams (CEN); False gives each
            stream its own convolutions (the "unshared convs" ablation),
            named `<name>.stream_<m>`.
        norm: "batch" or "instance" for the private norms.
        share_norms: one norm for all streams (the "shared norms" ablation).
        freeze_statistics: norms always use their running statistics.
        exchange: the `ExchangeConfig` of the exchange sites.
        sparsity: lambda of the L1 term on the exchange sites' scales.
        norm_options: passed to every norm layer (e.g. `synchronized=True`).
        kernel_initializer: of every convolution (default: PyTorch's default).
        stack: carry the streams stacked along the batch axis (needs
            shared convolutions).
        affine_inference: norms on running statistics as one multiply-add
            in the compute dtype (see `ParallelNormalization`).
        conditional_norms: the exchange sites hold `ConditionalNormalization`
            instead (the CBN fusion baseline): no exchange, no L1.
        lone_norms: every norm site also holds each modality's norms for when
            it runs alone (`ParallelNormalization`).
    """

    def __init__(
        self,
        num_modalities,
        share_convs=True,
        norm="batch",
        share_norms=False,
        freeze_statistics=False,
        exchange=None,
        sparsity=0.0,
        norm_options=None,
        kernel_initializer=None,
        stack=False,
        affine_inference=True,
        conditional_norms=False,
        lone_norms=False,
    ):
        if stack and not share_convs:
            raise ValueError(
                "stack_streams needs shared convolutions: with share_convs=False every stream "
                "has its own layers, so the streams cannot run as one batch."
            )
        self.num_modalities = num_modalities
        self.share_convs = share_convs
        self.stack = bool(stack)
        self.kernel_initializer = kernel_initializer or PYTORCH_DEFAULT_INIT
        self.norm_kwargs = {
            "norm": norm,
            "share_norms": share_norms,
            "freeze_statistics": freeze_statistics,
            "affine_inference": affine_inference,
            "lone_norms": bool(lone_norms),
            **(norm_options or {}),
        }
        self.exchange = exchange
        self.sparsity = sparsity
        self.conditional_norms = bool(conditional_norms)

    @classmethod
    def for_network(cls, num_modalities, network, norm, exchanges=True, share_norms=None, **options):
        """The streams of a network with the shared `network` options (a `NetworkOptions`): its
        convolution and norm sharing, stacking, affine inference and, where `exchanges`, its
        exchange sites, sparsity and conditional norms. `share_norms` overrides the options'
        (the U-Net's decoder norms); `options` are the other arguments (freeze_statistics, ...)."""
        if exchanges:
            options.update(
                exchange=network.site_exchange,
                sparsity=network.sparsity,
                conditional_norms=network.fusion.in_norms,
            )
        return cls(
            num_modalities,
            share_convs=network.share_convs,
            norm=norm,
            share_norms=network.share_norms if share_norms is None else share_norms,
            stack=network.stack_streams,
            affine_inference=network.affine_inference,
            lone_norms=network.lone_norms,
            **options,
        )

    def start(self, tensors, name="stack_streams"):
        """`StreamTensors` of the builder's M input tensors, stacked if this object stacks."""
        if self.stack:
            return StreamTensors((StackStreams(self.num_modalities, name=name)(list(tensors)),), stacked=True)
        return StreamTensors(tuple(tensors))

    def finish(self, xs, name):
        """A list of M per-stream tensors, whatever the representation (for outputs)."""
        if xs.stacked:
            return UnstackStreams(self.num_modalities, name=name)(xs.tensors[0])
        return list(xs.tensors)

    def map(self, layer, xs, **call_kwargs):
        """Apply one (stateless or shared) layer to every stream."""
        return xs.map(lambda x: layer(x, **call_kwargs))

    def layers_for(self, make_layer, name):
        """The layers of one site, one per tensor of the streams: `make_layer(name)` once when
        convolutions are shared, else one per stream (`<name>.stream_<m>`)."""
        if self.share_convs:
            return [make_layer(name)] * self.num_modalities
        return [make_layer(f"{name}.stream_{m}") for m in range(self.num_modalities)]

    def conv(self, xs, name, filters, kernel_size, stride=1, padding=0, use_bias=False, transpose=False, dilation=1):
        """PyTorch-style convolution: symmetric zero `padding`, then a valid convolution.

        TF's "same" padding is asymmetric for even sizes at stride 2, which
        shifts every output; explicit symmetric padding matches PyTorch.
        `dilation` spaces the kernel's taps (PSPNet's dilated stages). A
        transposed convolution (kernel 4, stride 2, padding 1 in pix2pix) is
        exactly TF's "same" transposed convolution. Both cast their kernel
        only once their input is ready (`cenkeras.layers.Conv2D`).
        """
        if transpose:
            if (kernel_size, stride, padding) != (4, 2, 1):
                raise ValueError("Only the pix2pix transposed convolution (4, 2, 1) is supported.")
            make = lambda n: Conv2DTranspose(
                filters,
                kernel_size,
                strides=stride,
                padding="same",
                use_bias=use_bias,
                name=n,
                kernel_initializer=fresh_initializer(self.kernel_initializer),
            )
            return xs.map_with(self.layers_for(make, name))
        same = stride == 1 and 2 * padding == dilation * (kernel_size - 1)
        make = lambda n: Conv2D(
            filters,
            kernel_size,
            strides=stride,
            dilation_rate=dilation,
            padding="same" if same else "valid",
            symmetric_padding=0 if same else padding,
            use_bias=use_bias,
            name=n,
            kernel_initializer=fresh_initializer(self.kernel_initializer),
        )
        return xs.map_with(self.layers_for(make, name))

    def norm(self, xs, name):
        """Private norms of one site (`ParallelNormalization`)."""
        layer = ParallelNormalization(self.num_modalities, name=name, **self.norm_kwargs)
        return xs.from_layer_output(layer(xs.layer_input))

    def exchange_norm(self, xs, name):
        """Private norms that exchange channels (`ChannelExchange` with this object's `exchange`),
        or conditional norms under the CBN baseline."""
        if self.conditional_norms:
            layer = ConditionalNormalization(self.num_modalities, name=name, **self.norm_kwargs)
            return xs.from_layer_output(layer(xs.layer_input))
        layer = ChannelExchange(
            self.num_modalities,
            name=name,
            sparsity=self.sparsity,
            **self.norm_kwargs,
            **self.exchange.layer_options(),
        )
        return xs.from_layer_output(layer(xs.layer_input))

    def fuse(self, xs, layer, name):
        """Fusion at one stage by a `cenkeras.layers.fusion` layer (None: nothing to do).

        An aggregation layer's fused tensor is added to every stream; an
        alignment layer returns the streams themselves (and adds its loss).
        Every stream goes on, so the outputs and the ensemble stay as in CEN.
        """
        if layer is None:
            return xs
        separate = self.finish(xs, f"{name}.unstack")
        fused = layer(separate)
        if isinstance(fused, (list, tuple)):
            merged = list(fused)
        else:
            add = keras.layers.Add(name=f"{name}.add")
            merged = [add([x, fused]) for x in separate]
        return self.start(merged, f"{name}.stack")

    def add(self, xs, ys):
        return xs.combine(ys, keras.layers.Add())

    def combine(self, layer, xs, ys):
        """`layer([x, y])` stream by stream (e.g. a skip concatenation or a resize to `ys`' size)."""
        return xs.combine(ys, layer)

    def concat(self, parts, name):
        """Channel concatenation of several `StreamTensors`, stream by stream."""
        if len({part.stacked for part in parts}) != 1:
            raise ValueError("cannot concatenate stacked streams with separate ones.")
        layer = keras.layers.Concatenate(name=name)
        return StreamTensors(tuple(layer(list(xs)) for xs in zip(*(part.tensors for part in parts))), parts[0].stacked)

    def relu(self, xs):
        return self.map(keras.layers.ReLU(), xs)
