"""The learned ensemble of the per-modality predictions."""

import functools

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cenkeras")
class ModalityEnsemble(keras.layers.Layer):
    """`sum_m softmax(alpha)_m * stop_gradient(prediction_m)`.

    CEN keeps one prediction per modality stream and learns a vector `alpha`
    (M values, initialised to ones) that weighs them. The branch predictions
    are detached, so the ensemble loss trains `alpha` only.

    Args:
        num_modalities: M, the number of branch predictions.

    Example:
    >>> ensemble = ModalityEnsemble(2)
    >>> out = ensemble([keras.ops.ones((1, 4, 4, 3)), keras.ops.zeros((1, 4, 4, 3))])
    >>> float(out[0, 0, 0, 0])
    0.5
    """

    def __init__(self, num_modalities, **kwargs):
        super().__init__(**kwargs)
        self.num_modalities = int(num_modalities)

    def build(self, input_shape):
        if len(input_shape) != self.num_modalities:
            raise ValueError(f"{self.name}: expected {self.num_modalities} predictions, got {len(input_shape)}.")
        # Not autocast: softmax(alpha) is computed in float32 under a bfloat16 policy.
        self.alpha = self.add_weight(shape=(self.num_modalities,), name="alpha", initializer="ones", autocast=False)

    def weights_softmax(self):
        alpha = ops.cast(self.alpha, "float32")
        # softmax written out: keras.ops.softmax warns on a size-1 axis, which M = 1 is.
        return ops.exp(alpha - ops.logsumexp(alpha))

    def call(self, inputs):
        weights = ops.cast(self.weights_softmax(), inputs[0].dtype)
        weighted = [weights[m] * ops.stop_gradient(x) for m, x in enumerate(inputs)]
        return functools.reduce(ops.add, weighted)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        config = super().get_config()
        config["num_modalities"] = self.num_modalities
        return config
