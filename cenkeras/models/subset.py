"""A CEN network run on a subset of its modalities (a sensor that failed, a camera not fitted).

Every modality has its own stream and its own output; the streams meet only
in the layers that take all of them at once: the norm sites (private norms,
the exchange), the stacking of streams, the ensemble. `modality_subset`
re-runs the network's graph from the present modalities' inputs: every op
of an absent stream is left out (not computed), and each multi-stream layer
is called on the present streams with `present=` naming them, so that

- an exchanged channel takes the mean of the *present* other streams, and a
  stream with no other present keeps its own channels;
- the ensemble's softmax(alpha) runs over the present branches only.

The subset model shares every layer, and so every weight, with the full
model: training one trains the other, and a SavedModel holding both stores
the weights once.
"""

import keras

from cenkeras.layers import (
    ConcatEnsemble,
    ModalityEnsemble,
    ParallelNormalization,
    StackStreams,
    UnstackStreams,
)
from cenkeras.layers.presence import SUBSET_ENSEMBLES, SUBSET_FUSIONS

# The layers that take every stream at once and accept `present=`.
MULTI_STREAM_LAYERS = (ParallelNormalization, ModalityEnsemble, ConcatEnsemble, StackStreams, UnstackStreams)


class ModalitySubset(keras.Model):
    """A functional model computing a CEN network's outputs from some of its modalities.

    Built by `modality_subset` (or `model.subset(...)`); its inputs are the
    present modalities, its outputs theirs and the ensemble. It holds no
    weights of its own.

    Attributes:
        modalities: the present modalities, in the full model's order.
        full_modalities: all modalities of the full model.
    """

    def __init__(self, inputs, outputs, modalities, full_modalities, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.modalities = tuple(modalities)
        self.full_modalities = tuple(full_modalities)

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, dict):
            unexpected = sorted(set(inputs) - set(self.modalities))
            missing = [m for m in self.modalities if m not in inputs]
            if unexpected or missing:
                raise ValueError(
                    f"{self.name} takes the modalities {list(self.modalities)}; "
                    + (f"missing {missing}" if missing else f"got also {unexpected}")
                    + "."
                )
        return super().__call__(inputs, *args, **kwargs)


def check_subset(model, modalities):
    """The present modalities of `model` in its own order, after checking `modalities`.

    Raises ValueError for an empty subset, a modality the model does not
    have, or a fusion that cannot run without some streams.
    """
    modalities = [modalities] if isinstance(modalities, str) else list(modalities)
    unknown = [m for m in modalities if m not in model.modalities]
    if unknown:
        raise ValueError(f"{model.name} has no modality {unknown}; its modalities are {list(model.modalities)}.")
    if not modalities:
        raise ValueError(f"{model.name}: a subset needs at least one of {list(model.modalities)}.")
    method = model.fusion.method
    if method not in SUBSET_FUSIONS and len(set(modalities)) < len(model.modalities):
        raise ValueError(
            f"{model.name} fuses its streams with {method!r} layers, which need every modality; "
            "only CEN's exchange (and CBN) networks run with a subset."
        )
    if model.ensemble not in SUBSET_ENSEMBLES and len(set(modalities)) < len(model.modalities):
        raise ValueError(
            f"{model.name}: the concat ensemble merges every branch with learnt weights; "
            "it cannot run without some of its modalities (the alpha ensemble can)."
        )
    return tuple(m for m in model.modalities if m in modalities)


def modality_subset(model, modalities):
    """`model` run from `modalities` only: a `ModalitySubset` sharing its layers.

    The full set gives a model computing exactly what `model` computes.

    Examples:
        >>> import numpy as np
        >>> from cenkeras.models import build_refinenet, tiny_options
        >>> model = build_refinenet(50, 5, ["rgb", "depth"], **tiny_options())
        >>> rgb_only = modality_subset(model, ["rgb"])
        >>> sorted(rgb_only(np.zeros((1, 64, 64, 3))))
        ['ensemble', 'rgb']
    """
    present_names = check_subset(model, modalities)
    inputs = {name: keras.Input(model.input[name].shape[1:], name=name) for name in present_names}
    values = {id(model.input[name]): inputs[name] for name in present_names}
    # The present modalities' indices carried by each stacked tensor (streams stacked on the batch axis).
    stacked_presence = {}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            computed = [id(t) in values for t in node.input_tensors]
            if not any(computed):
                continue  # an op of an absent stream
            if isinstance(node.operation, MULTI_STREAM_LAYERS):
                _call_multi_stream(node, values, stacked_presence, len(model.modalities))
            elif not all(computed):
                absent = [m for m in model.modalities if m not in present_names]
                raise ValueError(
                    f"{model.name}: layer {node.operation.name!r} combines the streams and cannot run without {absent}."
                )
            else:
                args, kwargs = node.arguments.fill_in(values)
                outputs = keras.tree.flatten(node.operation(*args, **kwargs))
                presence = next(
                    (stacked_presence[id(t)] for t in node.input_tensors if id(t) in stacked_presence), None
                )
                for symbolic, value in zip(node.outputs, outputs):
                    values[id(symbolic)] = value
                    if presence is not None:
                        stacked_presence[id(symbolic)] = presence
    outputs = {name: values[id(tensor)] for name, tensor in model.output.items() if id(tensor) in values}
    return ModalitySubset(
        inputs,
        outputs,
        modalities=present_names,
        full_modalities=model.modalities,
        name=f"{model.name}__{'_'.join(present_names)}",
    )


def _call_multi_stream(node, values, stacked_presence, num_modalities):
    """Call a multi-stream layer on the present streams, telling it which they are."""
    layer = node.operation
    args, kwargs = node.arguments.fill_in(values)
    streams, rest = args[0], args[1:]
    if isinstance(streams, (list, tuple)):  # one tensor per modality, in the model's order
        present = tuple(m for m, x in enumerate(streams) if x is not None)
        output = layer([x for x in streams if x is not None], *rest, present=present, **kwargs)
        stacked_in = False
    else:  # the streams stacked along the batch axis
        present = stacked_presence.get(id(node.input_tensors[0]), tuple(range(num_modalities)))
        output = layer(streams, *rest, present=present, **kwargs)
        stacked_in = True
    if isinstance(output, (list, tuple)):  # one tensor per present modality
        for m, value in zip(present, output):
            values[id(node.outputs[m])] = value
        return
    values[id(node.outputs[0])] = output
    if stacked_in or isinstance(layer, StackStreams):
        stacked_presence[id(node.outputs[0])] = present
