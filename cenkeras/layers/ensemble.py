"""The learned ensemble of the per-modality predictions."""

import functools

import keras
import numpy as np
from keras import ops

from cenkeras.layers.presence import check_stream_count, present_modalities


class _BranchFusion(keras.layers.Layer):
    """What both ensembles share: M branch predictions in, one of the same shape out."""

    def __init__(self, num_modalities, **kwargs):
        super().__init__(**kwargs)
        self.num_modalities = int(num_modalities)

    def check_branches(self, input_shape):
        if len(input_shape) != self.num_modalities:
            raise ValueError(f"{self.name}: expected {self.num_modalities} predictions, got {len(input_shape)}.")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "num_modalities": self.num_modalities}


@keras.saving.register_keras_serializable(package="cenkeras")
class ModalityEnsemble(_BranchFusion):
    """`sum_m softmax(alpha)_m * stop_gradient(prediction_m)`.

    CEN keeps one prediction per modality stream and learns a vector `alpha`
    (M values, initialised to ones) that weighs them. The branch predictions
    are detached, so the ensemble loss trains `alpha` only. Called with
    `present=(indices)` (missing modalities), the softmax runs over the
    present branches' alphas only.

    Args:
        num_modalities: M, the number of branch predictions.

    Examples:
        >>> ensemble = ModalityEnsemble(2)
        >>> out = ensemble([keras.ops.ones((1, 4, 4, 3)), keras.ops.zeros((1, 4, 4, 3))])
        >>> float(out[0, 0, 0, 0])
        0.5
    """

    def build(self, input_shape):
        self.check_branches(input_shape)
        # Not autocast: softmax(alpha) is computed in float32 under a bfloat16 policy.
        self.alpha = self.add_weight(shape=(self.num_modalities,), name="alpha", initializer="ones", autocast=False)

    def weights_softmax(self, present=None):
        """softmax(alpha) over the `present` branches (default all)."""
        present = present_modalities(present, self.num_modalities, self.name)
        alpha = ops.cast(self.alpha, "float32")
        if len(present) < self.num_modalities:
            alpha = ops.stack([alpha[m] for m in present])
        # softmax written out: keras.ops.softmax warns on a size-1 axis, which M = 1 is.
        return ops.exp(alpha - ops.logsumexp(alpha))

    def call(self, inputs, present=None):
        present = present_modalities(present, self.num_modalities, self.name)
        check_stream_count(inputs, present, self.name)
        weights = ops.cast(self.weights_softmax(present), inputs[0].dtype)
        weighted = [weights[m] * ops.stop_gradient(x) for m, x in enumerate(inputs)]
        return functools.reduce(ops.add, weighted)


ENSEMBLES = ("alpha", "concat")


@keras.saving.register_keras_serializable(package="cenkeras")
class ConcatEnsemble(_BranchFusion):
    """The concat-fusion block the paper compares CEN's ensemble with (Section 4.1).

    The M detached branch predictions are concatenated along channels and
    merged by a 1x1 convolution (M x C x C + C parameters) into the fused
    prediction. The branches are detached as in `ModalityEnsemble`, so the
    comparison changes only how the branches are combined. The kernel starts
    as the average of the branches (what softmax(alpha) starts at), the bias
    at zero.

    Args:
        num_modalities: M, the number of branch predictions.

    Examples:
        >>> ensemble = ConcatEnsemble(2)
        >>> out = ensemble([keras.ops.ones((1, 4, 4, 3)), keras.ops.zeros((1, 4, 4, 3))])
        >>> float(out[0, 0, 0, 0])
        0.5
    """

    def build(self, input_shape):
        self.check_branches(input_shape)
        channels = input_shape[0][-1]
        average = np.tile(np.eye(channels) / self.num_modalities, (self.num_modalities, 1))

        def starts_as_the_average(shape, dtype=None):
            return ops.cast(np.reshape(average, shape), dtype or "float32")

        self.merge = keras.layers.Conv2D(
            channels, 1, kernel_initializer=starts_as_the_average, name="merge", dtype=self.dtype_policy
        )
        self.merge.build((*input_shape[0][:-1], channels * self.num_modalities))

    def call(self, inputs, present=None):
        if present is not None and tuple(present) != tuple(range(self.num_modalities)):
            raise ValueError(
                f"{self.name}: the concat ensemble merges every branch with learnt weights; "
                "it cannot run without some of its modalities."
            )
        return self.merge(ops.concatenate([ops.stop_gradient(x) for x in inputs], axis=-1))


def make_ensemble(kind, num_modalities, name="ensemble"):
    """The fused prediction's layer: "alpha" (CEN's softmax(alpha) ensemble) or "concat" (the ablation)."""
    if kind not in ENSEMBLES:
        raise ValueError(f"ensemble must be one of {list(ENSEMBLES)}, got {kind!r}.")
    layer = ModalityEnsemble if kind == "alpha" else ConcatEnsemble
    return layer(num_modalities, name=name)
