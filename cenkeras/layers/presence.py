"""Which modalities reach a multi-stream layer: all M, or the subset that is present.

A CEN network can run without some of its modalities (a depth camera that
dropped out): the absent streams are not computed, and every layer that
takes all streams at once (the private norms, the exchange, the ensemble,
the stacking of streams) is called with the present ones and told which
they are through its `present` argument, a static tuple of modality
indices in increasing order.
"""

# The networks that can run on a subset: their streams meet only in the norm sites and the alpha
# ensemble. The other fusions and the concat ensemble merge every stream with learnt weights.
SUBSET_FUSIONS = ("exchange", "cbn")
SUBSET_ENSEMBLES = ("alpha",)


def present_modalities(present, num_modalities, layer_name):
    """`present` checked, as a tuple of increasing indices in [0, M); all M when None.

    Examples:
        >>> present_modalities(None, 3, "bn")
        (0, 1, 2)
        >>> present_modalities([0, 2], 3, "bn")
        (0, 2)
    """
    if present is None:
        return tuple(range(num_modalities))
    present = tuple(int(m) for m in present)
    if not present or list(present) != sorted(set(present)) or present[0] < 0 or present[-1] >= num_modalities:
        raise ValueError(
            f"{layer_name}: present must be increasing modality indices in [0, {num_modalities}), got {list(present)}."
        )
    return present


def check_stream_count(inputs, present, layer_name):
    """Raise ValueError unless `inputs` is a list with one tensor per present modality."""
    if not isinstance(inputs, (list, tuple)) or len(inputs) != len(present):
        got = len(inputs) if isinstance(inputs, (list, tuple)) else "a single tensor"
        raise ValueError(
            f"{layer_name}: expected a list of {len(present)} tensors (modalities {list(present)}), got {got}."
        )
