"""The layers of cenkeras: the channel exchange and its private norms, the fusion baselines,
the ensembles, and the convolutions and helpers every builder uses.

The bottom of the package: imports no other cenkeras package but `utils`.
"""

from cenkeras.layers.conditional_norm import ConditionalNormalization
from cenkeras.layers.convolution import Conv2D, Conv2DTranspose
from cenkeras.layers.ensemble import ENSEMBLES, ConcatEnsemble, ModalityEnsemble, make_ensemble
from cenkeras.layers.exchange import ChannelExchange, ExchangeConfig
from cenkeras.layers.fusion import (
    AverageFusion,
    ConcatFusion,
    FeatureAlignment,
    FusionConfig,
    SelfAttentionFusion,
    maximum_mean_discrepancy,
)
from cenkeras.layers.instance_norm import InstanceNormalization
from cenkeras.layers.parallel_norm import ParallelNormalization
from cenkeras.layers.ordering import WaitFor
from cenkeras.layers.pooling import AdaptiveAveragePooling
from cenkeras.layers.preprocessing import ModalityPreprocessor
from cenkeras.layers.resize import ResizeLike
from cenkeras.layers.sparsity import SliceL1, modality_parts
from cenkeras.layers.stacking import StackStreams, UnstackStreams

__all__ = [
    "AdaptiveAveragePooling",
    "AverageFusion",
    "ChannelExchange",
    "ConcatEnsemble",
    "ConditionalNormalization",
    "Conv2D",
    "Conv2DTranspose",
    "ConcatFusion",
    "ExchangeConfig",
    "FeatureAlignment",
    "FusionConfig",
    "SelfAttentionFusion",
    "maximum_mean_discrepancy",
    "InstanceNormalization",
    "ModalityEnsemble",
    "ModalityPreprocessor",
    "ParallelNormalization",
    "ResizeLike",
    "SliceL1",
    "StackStreams",
    "UnstackStreams",
    "WaitFor",
    "ENSEMBLES",
    "make_ensemble",
    "modality_parts",
]
