"""cenkeras: Deep Multimodal Fusion by Channel Exchanging (CEN) in Keras 3 / TensorFlow."""

from cenkeras.version import __version__
from cenkeras import layers, models

__all__ = ["__version__", "layers", "models"]
