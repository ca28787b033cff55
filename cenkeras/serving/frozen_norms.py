"""A network's norm sites as constants in the graphs traced for serving.

At inference a CEN network's norms and exchange masks depend on its
weights alone: each running-statistics norm is `x * scale + shift` and
each exchange replaces a fixed set of channels. Traced as they are, the
graphs read four variables per norm (gamma, beta, moving mean and
variance: about 800 of a RefineNet-101 RGB-D's 1026) and fold them on
every call; a SavedModel saves and restores each of them, and loading it
builds graphs for all that plumbing. `FrozenNorms` computes the values
once and lets the layers use them as constants while the serving graphs
are traced: the file keeps the convolutions' variables and the folded
(M, C) vectors, nothing else of the norms.
"""

import contextlib

import tensorflow as tf

from cenkeras.layers.parallel_norm import ParallelNormalization


class FrozenNorms:
    """The norm sites of `model`, whose inference values can stand in for their weights.

    `applied()` reads the current weights and sets every site's
    `frozen_constants` for the duration of the block: whatever is traced
    inside runs the network at inference (`training=False`) on constants.
    `folded_variables` are the variables such graphs no longer read.

    Examples:

        ```python
        frozen = FrozenNorms(segmenter)

        @tf.function
        def forward(inputs):
            with frozen.applied():
                return segmenter(inputs, training=False)
        ```
    """

    def __init__(self, model):
        self.sites = [layer for layer in model._flatten_layers() if isinstance(layer, ParallelNormalization)]

    @property
    def folded_variables(self):
        """The norms' variables of every site whose norms all fold at inference."""
        return [
            variable
            for site in self.sites
            if site.folds_at_inference
            for norm in site.every_norm()
            for variable in norm.variables
        ]

    @contextlib.contextmanager
    def applied(self):
        """Within: the sites compute inference from constants of their weights' current values."""
        # Inside a tf.function being traced the variables are symbolic: read them eagerly.
        with tf.init_scope():
            constants = [site.inference_constants() for site in self.sites]
        before = [site.frozen_constants for site in self.sites]
        for site, values in zip(self.sites, constants):
            site.frozen_constants = values
        try:
            yield
        finally:  # as they were: a block inside another leaves the outer one's constants set
            for site, values in zip(self.sites, before):
                site.frozen_constants = values
