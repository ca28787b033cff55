"""How the official translation code runs its generator outside training: as in training.

The official `main.py` never switches its generator to eval mode: the
images it saves and the FID / KID of the paper come from the generator in training mode, that is
with instance statistics in every norm and pix2pix's decoder `Dropout(0.5)`
dropping, as pix2pix itself tests. `official_inference` runs a cenkeras
generator that way at inference, without the rest of training mode (no norm
statistics move), and seeds the dropout so that a run's FID is repeatable.
"""

import contextlib

import keras

from cenkeras.layers.instance_norm import InstanceNormalization, use_instance_statistics


def _dropout_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Dropout)]


def _drop_on_request(layer):
    """Give a Dropout layer a switch, `drop_at_inference`, read when its call is traced."""
    if hasattr(layer, "drop_at_inference"):
        return
    original = layer.call

    def call(inputs, training=None):
        return original(inputs, training=bool(training) or layer.drop_at_inference)

    layer.call = call
    layer.drop_at_inference = False


@contextlib.contextmanager
def official_inference(generator, seed=0):
    """Within the block, `generator(x, training=False)` runs as the official code evaluates:
    instance statistics and decoder dropout, the dropout masks drawn from `seed` afresh on entry.

    Functions traced within the block keep that behaviour when called later
    (the switch is read at tracing); call them within the block too.

    Examples:
        >>> from cenkeras.models import build_unet_generator
        >>> generator = build_unet_generator(["shade", "texture"], filters=4, levels=6)  # dropout in block 1
        >>> x = {name: keras.random.normal((1, 64, 64, 3), seed=1) for name in ("shade", "texture")}
        >>> with official_inference(generator, seed=0):
        ...     first = generator(x)["ensemble"]
        >>> with official_inference(generator, seed=0):
        ...     again = generator(x)["ensemble"]
        >>> bool(keras.ops.all(first == again)), bool(keras.ops.any(first != generator(x)["ensemble"]))
        (True, True)
    """
    layers = _dropout_layers(generator)
    norms = [
        layer for layer in generator._flatten_layers(include_self=False) if isinstance(layer, InstanceNormalization)
    ]
    before = [norm.instance_statistics_at_inference for norm in norms]
    use_instance_statistics(generator, True)
    for index, layer in enumerate(layers):
        _drop_on_request(layer)
        layer.drop_at_inference = True
        if getattr(layer, "seed_generator", None) is not None:
            # One stream per layer, restarted: the same seed gives the same masks.
            layer.seed_generator.state.assign(
                keras.ops.convert_to_tensor([seed + index, 0], layer.seed_generator.state.dtype)
            )
    try:
        yield generator
    finally:
        for layer in layers:
            layer.drop_at_inference = False
        for norm, value in zip(norms, before):
            norm.instance_statistics_at_inference = value


def generator_evaluation(generator, mode="inference", seed=0):
    """The context evaluation runs `generator` in: `official_inference` for mode "official",
    else nothing changes (instance statistics as the task set them, no dropout)."""
    if mode == "official":
        return official_inference(generator, seed)
    return contextlib.nullcontext(generator)
