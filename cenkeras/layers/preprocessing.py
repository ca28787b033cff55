"""`ModalityPreprocessor`: raw pixels of one modality to what the network sees, saved with the model.

One layer config per input travels inside the model's own config (see
`cenkeras.models.MultimodalModel.preprocessors`), so a `.keras` file alone
says how to feed it. The data pipelines, the serving signatures, `predict`,
`translate` and `inspect` all map raw images through this one layer.
"""

import keras
import numpy as np
from keras import ops

# Kinds of segmentation modalities read from 8-bit files, and all kinds a preprocessor knows:
# "domain" is a translation domain (decoded to 8 bits per its name), mapped to [-1, 1].
EIGHT_BIT_KINDS = ("rgb", "hha", "image", "gray")
MODALITY_KINDS = (*EIGHT_BIT_KINDS, "depth")
PREPROCESSING_KINDS = (*MODALITY_KINDS, "domain")
# 16-bit depth: scaled to metres, or rescaled per map by its own range (official SUN RGB-D).
DEPTH_MODES = ("scale", "minmax")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="cenkeras")
class ModalityPreprocessor(keras.layers.Layer):
    """Raw values of one input, `(..., H, W, C)` (a batch or one image), to the network's input.

    - "rgb", "hha", "image", "gray": 8-bit values, `(x / 255 - mean) / std`;
      "gray" (and any 1-channel input) is replicated to 3 channels.
    - "depth": 16-bit PNG units, `x * scale` (1/5000 turns NYUDv2's units into
      metres; 0 = missing stays 0) replicated to 3 channels as the official
      code does; with `depth_mode="minmax"`, `(x - min) * 255 / (max - min)`
      over each image instead (the official SUN RGB-D handling).
    - "domain": a translation domain decoded to 8 bits, `x / 127.5 - 1`;
      `to_uint8` maps generated images back.

    Computes in float32 whatever the global dtype policy.

    Args:
        kind: one of `PREPROCESSING_KINDS`.
        mean, std: per-channel statistics of the 8-bit kinds (ImageNet by default).
        scale: depth units to the network's (metres for NYUDv2).
        depth_mode: "scale" or "minmax".
        channels: the channels of the image file this input reads (None: all of them); the
            layer itself takes the selected channels. Kept so that whoever reads a file for
            the model (`predict`, serving clients) selects the same ones.

    Examples:
        >>> depth = ModalityPreprocessor("depth", scale=1 / 5000)
        >>> [float(v) for v in depth(np.full((1, 2, 2, 1), 5000.0))[0, 0, 0]]
        [1.0, 1.0, 1.0]
        >>> depth.raw_dtype, depth.raw_channels
        ('uint16', 1)
    """

    def __init__(
        self,
        kind="rgb",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        scale=1.0 / 5000.0,
        depth_mode="scale",
        channels=None,
        **kwargs,
    ):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        if kind not in PREPROCESSING_KINDS:
            raise ValueError(f"kind must be one of {list(PREPROCESSING_KINDS)}, got {kind!r}.")
        if depth_mode not in DEPTH_MODES:
            raise ValueError(f"depth_mode must be one of {list(DEPTH_MODES)}, got {depth_mode!r}.")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each and std > 0, got {mean} and {std}.")
        self.kind = kind
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.scale = float(scale)
        self.depth_mode = depth_mode
        self.channels = None if channels is None else tuple(int(c) for c in channels)

    @classmethod
    def from_modality(cls, modality, name=None):
        """The preprocessor of a recipe's `ModalityConfig`."""
        return cls(
            modality.kind,
            modality.mean,
            modality.std,
            modality.scale,
            modality.depth_mode,
            modality.channels,
            name=name,
        )

    @property
    def raw_dtype(self):
        """The dtype of the raw images a served model takes: uint16 for depth, uint8 otherwise."""
        return "uint16" if self.kind == "depth" else "uint8"

    @property
    def raw_channels(self):
        """Channels of the raw images a served model takes."""
        return 1 if self.kind in ("depth", "gray") else 3

    def call(self, raw):
        x = ops.cast(raw, "float32")
        if self.kind == "domain":
            return x / 127.5 - 1.0
        if self.kind == "depth":
            if self.depth_mode == "minmax":
                # Over each image: the last three axes, batched or not.
                low = ops.min(x, axis=(-3, -2, -1), keepdims=True)
                high = ops.max(x, axis=(-3, -2, -1), keepdims=True)
                x = (x - low) * 255.0 / ops.maximum(high - low, 1e-6)
            else:
                x = x * self.scale
            return ops.repeat(x, 3, axis=-1)
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        mean = ops.convert_to_tensor(np.asarray(self.mean, np.float32))
        std = ops.convert_to_tensor(np.asarray(self.std, np.float32))
        return (x / 255.0 - mean) / std

    def to_uint8(self, image):
        """A generated image in [-1, 1] back to uint8 (the inverse of "domain", rounded and clipped)."""
        return ops.cast(ops.clip(ops.round((ops.cast(image, "float32") + 1.0) * 127.5), 0, 255), "uint8")

    def describe(self):
        """One line for serving metadata and model summaries."""
        if self.channels is not None:
            return f"channels {list(self.channels)} of the file, then {self._describe_values()}"
        return self._describe_values()

    def _describe_values(self):
        if self.kind == "domain":
            return "x / 127.5 - 1"
        if self.kind == "depth":
            if self.depth_mode == "minmax":
                return "(x - min) * 255 / (max - min) per image, replicated to 3 channels"
            return f"x * {self.scale:g}, replicated to 3 channels (0 = missing)"
        prefix = "gray replicated to 3 channels, then " if self.kind == "gray" else ""
        return f"{prefix}(x / 255 - mean {list(self.mean)}) / std {list(self.std)}"

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def options(self):
        """The constructor options (what a model keeps per input)."""
        return {
            "kind": self.kind,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
            "depth_mode": self.depth_mode,
            "channels": None if self.channels is None else list(self.channels),
        }

    def get_config(self):
        return {**super().get_config(), **self.options()}
