"""What both trainers share to train on modality-dropout batches (`cenkeras.data.modality_dropout`)."""

from collections.abc import Mapping

import tensorflow as tf

from cenkeras.data.modality_dropout import subsets_by_pattern


class SubsetModels:
    """`entries`: `(present modalities, model)` for every drop pattern, in bitmask order
    (index = pattern - 1). The full set is the network itself, the others its subset models
    (`MultimodalModel.subset`), sharing its layers. A plain object, so that Keras does not track
    the subset models in a trainer: the weights are the network's.
    """

    def __init__(self, network):
        full = tuple(network.modalities)
        self.entries = [
            (names, network if names == full else network.subset(names)) for _, names in subsets_by_pattern(full)
        ]


class LoneModels:
    """`models`: the network run from each modality alone (`MultimodalModel.subset`), in the
    network's order, for the lone passes (`train.lone_weight`), and `weights`: each one's weight
    in the loss. `weight` is one number for every modality or `{modality: weight}`; a modality
    of weight 0 (or `network=None`) has no lone pass. A plain object for the same reason as
    `SubsetModels`."""

    def __init__(self, network, weight=0.0):
        names = list(network.modalities) if network is not None else []
        weights = weight if isinstance(weight, Mapping) else dict.fromkeys(names, weight)
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValueError(f"Lone weights for {unknown}, not inputs of the network (have {names}).")
        kept = [name for name in names if weights.get(name, 0.0)]
        self.models = [network.subset([name]) for name in kept]
        self.weights = [float(weights[name]) for name in kept]


def dense_gradients(gradients, variables):
    """Gradients with zeros where a variable took no part (an absent stream's own norms)."""
    return [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(gradients, variables)]
