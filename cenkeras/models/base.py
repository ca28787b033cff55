"""Common base of the CEN functional models: named modality inputs, checked on every call,
and the preprocessing of each input saved with the model."""

import json

import keras

from cenkeras.layers import (
    AverageFusion,
    ChannelExchange,
    ConcatEnsemble,
    ConcatFusion,
    ConditionalNormalization,
    FeatureAlignment,
    ModalityEnsemble,
    SelfAttentionFusion,
)
from cenkeras.layers.exchange import ExchangeConfig
from cenkeras.layers.fusion import FusionConfig
from cenkeras.layers.preprocessing import ModalityPreprocessor
from cenkeras.models.options import NetworkOptions
from cenkeras.utils.renamed_keys import move_renamed, renamed_options

FUSION_LAYERS = (AverageFusion, ConcatFusion, FeatureAlignment, SelfAttentionFusion)

RESERVED_OUTPUT = "ensemble"
# Outputs a trainer weighs into the loss but nothing predicts from (PSPNet's auxiliary head):
# "auxiliary.<modality>". A modality name is an identifier, so it cannot clash.
AUXILIARY_PREFIX = "auxiliary."


def upgrade_legacy_config(config):
    """A network config of an older version with its options under their current names
    (`cenkeras.utils.renamed_keys`: the flat exchange / fusion options nested, ...)."""
    return move_renamed(
        config,
        renamed_options("model", network_config=True),
        is_section=lambda value: isinstance(value, (dict, ExchangeConfig, FusionConfig)),
    )


def check_modalities(modalities):
    """Validate modality names; returns them as a tuple."""
    if isinstance(modalities, str) or not hasattr(modalities, "__iter__"):
        raise ValueError(f"modalities must be a list of names such as ['rgb', 'depth'], got {modalities!r}.")
    modalities = tuple(modalities)
    if not modalities:
        raise ValueError("modalities must name at least one modality.")
    for name in modalities:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Modality names must be identifiers (letters, digits, '_'), got {name!r}.")
        if name == RESERVED_OUTPUT:
            raise ValueError(f"'{RESERVED_OUTPUT}' is the name of the ensemble output, not a modality.")
    if len(set(modalities)) != len(modalities):
        raise ValueError(f"Modality names must be unique, got {list(modalities)}.")
    return modalities


def float32_outputs(modalities, per_modality, ensemble, name="logits"):
    """`{modality: tensor, "ensemble": tensor}` cast to float32 (mixed precision computes in bf16)."""
    to_float32 = keras.layers.Activation("linear", dtype="float32", name=name)
    outputs = {modality: to_float32(x) for modality, x in zip(modalities, per_modality)}
    outputs[RESERVED_OUTPUT] = to_float32(ensemble)
    return outputs


def prediction_outputs(model):
    """The outputs a model predicts with: one per modality, then the ensemble (no auxiliary heads)."""
    return [*model.modalities, RESERVED_OUTPUT]


def modality_inputs(modalities, channels):
    """One `keras.Input` per modality, any height and width."""
    return {name: keras.Input((None, None, channels), name=name) for name in modalities}


class MultimodalModel(keras.Model):
    """A functional model whose inputs are a dict `{modality: (batch, H, W, C)}`.

    Every call checks the inputs first, so a missing or unexpected modality,
    or an image with the wrong channel count, is a `ValueError` that names
    it instead of an error from deep inside TensorFlow. A list or tuple of M
    tensors is taken in the order of `modalities`.
    """

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self._check_inputs(inputs), *args, **kwargs)

    def subset(self, modalities):
        """This network run from `modalities` only (a missing sensor): the absent streams are not
        computed, the exchange and the ensemble use the present ones. Shares every weight with this
        model; see `cenkeras.models.subset`.

        Examples:
            >>> from cenkeras.models import build_refinenet, tiny_options
            >>> model = build_refinenet(50, 5, ["rgb", "depth"], **tiny_options())
            >>> model.subset(["depth"]).modalities
            ('depth',)
        """
        from cenkeras.models.subset import modality_subset  # it imports this module's layers

        return modality_subset(self, modalities)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return super().from_config(upgrade_legacy_config(config), custom_objects)

    @staticmethod
    def network_options(network, arguments, threshold, dropout):
        """`(NetworkOptions, the other keyword arguments)` of a network's constructor: `network`
        with any option given as a keyword argument on top, the network's `threshold` and
        `dropout` where none is given (see `NetworkOptions.from_arguments`)."""
        return NetworkOptions.from_arguments(network, arguments, threshold=threshold, dropout=dropout)

    def keep_network_options(self, *, modalities, network, preprocessing):
        """Keep what every CEN network takes (`base_config` returns it)."""
        self.modalities = modalities
        self.network = network
        self.set_preprocessing(preprocessing)

    # The shared options, read where they are needed (`model.exchange`, `model.stack_streams`, ...).
    exchange = property(lambda self: self.network.exchange)
    fusion = property(lambda self: self.network.fusion)
    sparsity = property(lambda self: self.network.sparsity)
    share_convs = property(lambda self: self.network.share_convs)
    share_norms = property(lambda self: self.network.share_norms)
    dropout = property(lambda self: self.network.dropout)
    input_channels = property(lambda self: self.network.input_channels)
    stack_streams = property(lambda self: self.network.stack_streams)
    affine_inference = property(lambda self: self.network.affine_inference)
    ensemble = property(lambda self: self.network.ensemble)

    def _check_inputs(self, inputs):
        expected = list(self.modalities)
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != len(expected):
                raise ValueError(f"{self.name} takes {len(expected)} modalities {expected}, got {len(inputs)} inputs.")
            inputs = dict(zip(expected, inputs))
        if not isinstance(inputs, dict):
            raise ValueError(
                f"{self.name} takes a dict {{modality: image}} with keys {expected}, got {type(inputs).__name__}."
            )
        missing = [name for name in expected if name not in inputs]
        unexpected = [name for name in inputs if name not in expected]
        if missing or unexpected:
            raise ValueError(f"{self.name} takes modalities {expected}; missing {missing}, unexpected {unexpected}.")
        for name in expected:
            shape = getattr(inputs[name], "shape", None)
            if shape is None:
                continue
            if len(shape) != 4:
                raise ValueError(
                    f"{self.name}: input '{name}' must be a batch of images (batch, height, width, "
                    f"{self.input_channels}), got shape {tuple(shape)}."
                )
            if shape[-1] is not None and shape[-1] != self.input_channels:
                raise ValueError(
                    f"{self.name}: input '{name}' must have {self.input_channels} channels, got shape {tuple(shape)}."
                )
        return {name: inputs[name] for name in expected}

    def set_preprocessing(self, preprocessing):
        """Keep how each input is preprocessed (`{name: ModalityPreprocessor or its config}`, or None).

        Held as JSON, outside the layer graph: it adds no weights and no
        computation to the model, only to its config (and so to `.keras` files).
        """
        if preprocessing is None:
            self._preprocessing_json = None
            return
        if set(preprocessing) != set(self.modalities):
            raise ValueError(
                f"preprocessing must name the modalities {list(self.modalities)}, got {sorted(preprocessing)}."
            )
        configs = {}
        for name in self.modalities:
            layer = preprocessing[name]
            if isinstance(layer, dict):
                layer = ModalityPreprocessor(**layer)  # checks the values
            configs[name] = layer.options()
        self._preprocessing_json = json.dumps(configs)

    @property
    def preprocessing(self):
        """`{input name: preprocessor options}`, or None for a model saved without them (older files)."""
        return None if self._preprocessing_json is None else json.loads(self._preprocessing_json)

    def preprocessors(self):
        """`{input name: ModalityPreprocessor}`: how raw images become this model's inputs (None if unknown)."""
        if self.preprocessing is None:
            return None
        return {
            name: ModalityPreprocessor(name=f"{name}_preprocessor", **options)
            for name, options in self.preprocessing.items()
        }

    def exchange_layers(self):
        """The `ChannelExchange` layers, in network order."""
        return [layer for layer in self.layers if isinstance(layer, ChannelExchange)]

    def exchange_statistics(self):
        """`{layer name: ChannelExchange.exchange_statistics()}` for every exchange site."""
        return {layer.name: layer.exchange_statistics() for layer in self.exchange_layers()}

    def ensemble_weights(self):
        """softmax(alpha) as a NumPy array, one weight per modality (None with a concat ensemble)."""
        layer = next((layer for layer in self.layers if isinstance(layer, ModalityEnsemble)), None)
        return None if layer is None else keras.ops.convert_to_numpy(layer.weights_softmax())

    def fusion_layers(self):
        """The layers of a fusion baseline (none for CEN, whose exchange lives in its norms)."""
        return [layer for layer in self.layers if isinstance(layer, FUSION_LAYERS)]

    def fusion_parameter_count(self):
        """Parameters used for fusion, as the paper's Table 2 counts them (CEN: 0): the fusion
        baselines' layers, conditional norms' MLPs, the gated sum's gates and a concat ensemble's merge."""
        count = sum(layer.count_params() for layer in self.fusion_layers())
        for layer in self.layers:
            if isinstance(layer, ChannelExchange) and layer.rule == "gated_sum":
                count += layer.num_modalities * layer.channels
            elif isinstance(layer, ConditionalNormalization):
                count += layer.conditioning_parameter_count()
            elif isinstance(layer, ConcatEnsemble):
                count += layer.count_params()
        return int(count)

    def base_config(self):
        """What every CEN model's config holds: its name and the options of `keep_network_options`."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "modalities": list(self.modalities),
            "network": self.network.to_config(),
            "preprocessing": self.preprocessing,
        }
