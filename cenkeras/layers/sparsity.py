"""The CEN sparsity penalty: L1 on a contiguous slice of a norm's scale."""

import math

import keras
import numpy as np
from keras import ops


def modality_parts(channels, num_modalities):
    """Bounds `(start, stop)` of the M contiguous channel parts.

    Part m is where modality m's scales are pushed towards zero, so where its
    exchanges happen. Sizes follow `numpy.array_split` when `channels` is not
    divisible by M (the first parts are one channel larger).
    """
    sizes = [len(part) for part in np.array_split(np.arange(channels), num_modalities)]
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [(int(bounds[m]), int(bounds[m + 1])) for m in range(num_modalities)]


@keras.saving.register_keras_serializable(package="cenkeras")
class SliceL1(keras.regularizers.Regularizer):
    """`strength * sum(|w[start:stop]|)` for a 1-D weight.

    Args:
        strength: the penalty's lambda.
        start: first index of the penalised slice.
        stop: one past the last index (None: to the end).

    Examples:
        >>> reg = SliceL1(0.5, start=0, stop=2)
        >>> float(reg(keras.ops.convert_to_tensor([1.0, -2.0, 4.0])))
        1.5
    """

    def __init__(self, strength, start=0, stop=None):
        strength = float(strength)
        if not math.isfinite(strength) or strength < 0:
            raise ValueError(f"SliceL1 strength must be a finite number >= 0, got {strength}.")
        self.strength = strength
        self.start = int(start)
        self.stop = None if stop is None else int(stop)

    def __call__(self, x):
        return self.strength * ops.sum(ops.abs(x[self.start : self.stop]))

    def get_config(self):
        return {"strength": self.strength, "start": self.start, "stop": self.stop}
