"""The schema of a segmentation recipe: modalities, data, the CEN RefineNet, training, evaluation.

Each section validates itself (`validate()`), naming the key of a bad value.
"""

import dataclasses
from typing import Any, Optional

from cenkeras.config.checks import (
    ConfigError,
    check_at_least,
    check_choice,
    check_list_source,
    validate_sections,
    check_number,
    check_positive_numbers,
)
from cenkeras.config.network import NetworkConfig, accepts_renamed_arguments
from cenkeras.config.saved import section_from_dict
from cenkeras.config.training import RunOptions, check_modality_dropout, lone_weights, require_lone_passes
from cenkeras.data.modalities import DEPTH_MODES, KIND_CHANNELS, MODALITY_KINDS
from cenkeras.data.pipeline import ALIGN_RULES, DATA_SOURCES, OUT_OF_RANGE_RULES
from cenkeras.data.skipping import ON_ERROR_RULES
from cenkeras.data.verify import VERIFY_RULES
from cenkeras.models.architectures import get_architecture


@dataclasses.dataclass
class ModalityConfig:
    """One input modality: how its files are decoded and normalised.

    `kind` is one of:
      - "rgb": 8-bit colour image; `(x / 255 - mean) / std` (ImageNet values).
      - "hha": 8-bit 3-channel HHA encoding of depth; normalised like rgb.
      - "image": any 8-bit 3-channel image (a grayscale file becomes 3 channels).
      - "gray": 8-bit single-channel image replicated to 3 channels.
      - "depth": 16-bit PNG; value * `scale` (1/5000: NYUDv2 metres), replicated
        to 3 channels as the official code does; 0 means missing. With
        `depth_mode="minmax"` each map is rescaled to 0..255 by its own
        minimum and maximum instead (the official SUN RGB-D handling).

    `channels` picks channels of the file, e.g. `(0, 1, 2)` (kind "rgb") and
    `(3,)` (kind "gray") read the colour and the thermal channel of one
    4-channel RGB-T PNG as two modalities. Without it a file with more
    channels than the kind takes is an error naming the file.
    """

    kind: str = "rgb"
    column: int = 0
    scale: float = 1.0 / 5000.0
    depth_mode: str = "scale"
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    channels: Optional[tuple[int, ...]] = None

    def validate(self, name):
        if self.kind not in MODALITY_KINDS:
            raise ConfigError(f"data.modalities.{name}.kind must be one of {list(MODALITY_KINDS)}, got {self.kind!r}.")
        if self.depth_mode not in DEPTH_MODES:
            raise ConfigError(
                f"data.modalities.{name}.depth_mode must be 'scale' or 'minmax', got {self.depth_mode!r}."
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(f"data.modalities.{name}: mean and std need 3 values, std > 0.")
        if self.channels is not None:
            takes = KIND_CHANNELS[self.kind]
            if len(self.channels) != takes or any(not isinstance(c, int) or c < 0 for c in self.channels):
                raise ConfigError(
                    f"data.modalities.{name}.channels must be {takes} channel index(es) >= 0 for kind "
                    f"{self.kind!r}, got {self.channels!r}."
                )
            if self.kind == "depth" and tuple(self.channels) != (0,):
                raise ConfigError(f"data.modalities.{name}.channels: a 16-bit depth PNG has only channel 0.")


@dataclasses.dataclass
class SyntheticConfig:
    """The embedded synthetic RGB-D scenes (generated locally, no download)."""

    num_train: int = 240
    num_val: int = 60
    height: int = 96
    width: int = 128
    seed: int = 0


@dataclasses.dataclass
class DataConfig:
    """Where the data comes from and how it is augmented.

    `source="synthetic"` uses the embedded generated scenes; `source="list"`
    reads the official layout: `root` plus list files whose lines hold
    relative paths separated by tabs or spaces, the columns named by each
    modality's `column` and by `mask_column`.
    """

    source: str = "synthetic"
    root: Optional[str] = None
    train_list: Optional[str] = None
    val_list: Optional[str] = None
    modalities: dict[str, ModalityConfig] = dataclasses.field(
        default_factory=lambda: {
            "rgb": ModalityConfig(kind="rgb", column=0),
            "depth": ModalityConfig(kind="depth", column=2),
        }
    )
    mask_column: int = 1
    ignore_label: int = 255
    # A label >= num_classes that is not ignore_label: "error" or "ignore".
    out_of_range: str = "error"
    # Inputs whose size differs from the mask: "crop" (centre, official NYUDv2), "resize", "reject".
    align: str = "crop"
    allow_outside_root: bool = False
    shorter_side: int = 350
    crop_size: int = 500
    low_scale: float = 0.5
    high_scale: float = 2.0
    mirror: bool = True
    # Keep decoded list-file samples in memory after their first read (synthetic records always are).
    cache: bool = False
    # Before training: "exists" checks every listed file is there; "decode" reads every
    # sample as training does and reports every problem at once (cenkeras check-data).
    verify: str = "exists"
    # A training sample that fails to decode: "stop" (an error naming the file) or "skip" (left
    # out of its batch, counted and logged in the run's skipped.tsv; cenkeras.data.skipping).
    on_error: str = "stop"
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)
    # Keep only these of `modalities`, in this order (a uni-modal baseline: `--set data.inputs=rgb`).
    inputs: Optional[tuple[str, ...]] = None

    def validate(self):
        if self.inputs is not None:
            unknown = [name for name in self.inputs if name not in self.modalities]
            if unknown or not self.inputs:
                raise ConfigError(
                    f"data.inputs must name some of data.modalities {list(self.modalities)}, got {list(self.inputs)}."
                )
            # The others' settings are dropped: everything downstream reads `modalities`.
            self.modalities = {name: self.modalities[name] for name in self.inputs}
        for name, modality in self.modalities.items():
            if not isinstance(modality, ModalityConfig):
                raise ConfigError(f"data.modalities.{name} must be a ModalityConfig.")
            modality.validate(name)
        if not self.modalities:
            raise ConfigError("data.modalities must name at least one modality.")
        check_choice("data.source", self.source, DATA_SOURCES)
        check_choice("data.out_of_range", self.out_of_range, OUT_OF_RANGE_RULES)
        check_choice("data.align", self.align, ALIGN_RULES)
        check_list_source(self)
        check_choice("data.verify", self.verify, VERIFY_RULES)
        check_choice("data.on_error", self.on_error, ON_ERROR_RULES)
        if not (0 < self.low_scale <= self.high_scale):
            raise ConfigError("data.low_scale and data.high_scale must satisfy 0 < low <= high.")
        check_at_least("data.crop_size", self.crop_size, 2)


@accepts_renamed_arguments
@dataclasses.dataclass
class ModelConfig(NetworkConfig):
    """The segmenter: the shared network options (`NetworkConfig`), the encoder, and the
    architecture with its own options.

    `architecture` names an entry of `cenkeras.models.architectures` ("refinenet", the official
    code's; "pspnet", the paper's best in Table 3; or one another package registers), and
    `decoder` holds that entry's own options: empty for RefineNet, `pyramid_bins` and
    `auxiliary_weight` for PSPNet (`cenkeras.models.pspnet.PSPNetOptions`). Naming another
    architecture starts its section from its defaults. `decoder_width` is RefineNet's width, or
    PSPNet's auxiliary head width (its main head has twice it).
    """

    architecture: str = "refinenet"
    depth: int = 101
    num_classes: int = 40
    stage_blocks: Optional[tuple[int, ...]] = None
    base_width: int = 64
    decoder_width: int = 256
    # Encoder initialisation: a torchvision ImageNet ResNet as .safetensors (e.g. timm's
    # resnet101.tv_in1k; read with NumPy), .pth (needs torch) or .npz; each BatchNorm is copied
    # into every modality's private norm. Required with train.freeze_bn (official: ENC_PRETRAINED).
    backbone_weights: Optional[str] = None
    # The architecture's own options (a dataclass of its entry); a dict (recipe.json) is read into it.
    decoder: Any = None

    def __post_init__(self):
        self._follow_architecture()

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name == "architecture" and "decoder" in self.__dict__:
            self._follow_architecture()

    def _follow_architecture(self):
        """Give `decoder` the type of the architecture's options (left as is for an unknown
        architecture, which `validate` names)."""
        try:
            options = get_architecture(self.architecture).options
        except ValueError:
            return
        if isinstance(self.decoder, options):
            return
        if isinstance(self.decoder, dict):
            value = section_from_dict(options, self.decoder)
        else:  # none yet, or another architecture's: this one's defaults
            value = options()
        object.__setattr__(self, "decoder", value)

    def validate(self):
        super().validate()
        try:
            architecture = get_architecture(self.architecture)
        except ValueError as error:
            raise ConfigError(f"model.architecture: {error}") from None
        if not isinstance(self.decoder, architecture.options):
            raise ConfigError(
                f"model.decoder must be a {architecture.options.__name__} for architecture {architecture.name!r}, "
                f"got {type(self.decoder).__name__}."
            )
        try:
            getattr(self.decoder, "validate", lambda: None)()
        except ValueError as error:
            raise ConfigError(f"model.decoder ({architecture.name}): {error}") from None
        if self.num_classes < 1 or self.num_classes > 255:
            raise ConfigError(f"model.num_classes must be in [1, 255], got {self.num_classes}.")


@dataclasses.dataclass
class TrainConfig(RunOptions):
    """Optimisation (SGD, two learning-rate groups). Lists with one value per stage run as
    consecutive stages.

    `sparsity` is the official lambda of the L1 term on the `bn2` scales. The
    official code adds the term once per output (M modalities + the
    ensemble), so the penalty the network gets is `sparsity * (M + 1)`:
    2e-4 with RGB-D is 6e-4 in effect (the paper writes 5e-3).

    `resnet152_epochs` is the schedule the paper gives a ResNet-152 on this
    recipe's data (NYUDv2: 3 x 150 where ResNet-101 trains 3 x 100); empty
    means `epochs`. `cenkeras reproduce` trains its ResNet-152 rows with it.

    `lone_distillation` (with `lone_weight`, see `RunOptions`) adds the KL
    divergence from the full set's ensemble to each lone output, so weighted.
    """

    epochs: tuple[int, ...] = (100, 100, 100)
    resnet152_epochs: tuple[int, ...] = ()
    lr_encoder: tuple[float, ...] = (5e-4, 2.5e-4, 1e-4)
    lr_decoder: tuple[float, ...] = (3e-3, 1.5e-3, 7e-4)
    momentum: float = 0.9
    weight_decay: float = 1e-5
    # Linear learning-rate warm-up over the first steps (0 = none, as the official code).
    warmup_steps: int = 0
    sparsity: float = 2e-4
    batch_size: int = 6
    freeze_bn: bool = True
    val_every: int = 5
    sync_bn: bool = False
    lone_distillation: float = 0.0

    def validate(self):
        super().validate()
        if not (len(self.epochs) == len(self.lr_encoder) == len(self.lr_decoder)) or not self.epochs:
            raise ConfigError(
                "train.epochs, train.lr_encoder and train.lr_decoder need one value per stage, got "
                f"{len(self.epochs)}, {len(self.lr_encoder)} and {len(self.lr_decoder)}."
            )
        if min(self.epochs) < 1:
            raise ConfigError(f"train.epochs must be >= 1 per stage, got {list(self.epochs)}.")
        if self.resnet152_epochs and min(self.resnet152_epochs) < 1:
            raise ConfigError(f"train.resnet152_epochs must be >= 1 per stage, got {list(self.resnet152_epochs)}.")
        for key in ("momentum", "weight_decay", "sparsity", "lone_distillation"):
            check_number(f"train.{key}", getattr(self, key))
        check_at_least("train.warmup_steps", self.warmup_steps, 0)
        check_at_least("train.batch_size", self.batch_size, 1)


# The multi-scale test protocols `eval.multi_scale` names: (scales, flip). Probabilities are
# averaged over the views in both.
MULTI_SCALE_PROTOCOLS = {
    # RefineNet's released NYUDv2 evaluation, which the paper follows ("[28, 31]"): five scales, no flip.
    "refinenet": ((0.4, 0.6, 0.8, 1.0, 1.2), False),
    # PSPNet's (and the semseg toolboxes'): six scales and their mirror images.
    "pspnet": ((0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True),
}
# How logits reach the label size in evaluation: the official evaluation's cv2 INTER_CUBIC, or bilinear.
EVAL_UPSAMPLING = ("bilinear", "bicubic")


@dataclasses.dataclass
class EvalConfig:
    """Evaluation: single scale by default; `eval --multi-scale` runs the protocol `multi_scale` names.

    `multi_scale`: "refinenet" (scales 0.4-1.2, no flip: the protocol of the
    paper's multi-scale figures), "pspnet" (0.5-1.75 with flips) or "custom"
    (`multi_scales`, flipped if `flip`). `upsampling`: how logits are
    resized to the label size before the argmax; "bicubic" is the official
    evaluation's (OpenCV INTER_CUBIC), "bilinear" the training loss's.
    """

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    multi_scale: str = "refinenet"
    multi_scales: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    upsampling: str = "bilinear"
    # 1 for datasets whose images differ in size (NYUDv2 after alignment does not, SUN RGB-D does).
    batch_size: int = 1

    def validate(self):
        for key in ("scales", "multi_scales"):
            check_positive_numbers(f"eval.{key}", getattr(self, key))
        check_choice("eval.multi_scale", self.multi_scale, [*MULTI_SCALE_PROTOCOLS, "custom"])
        check_choice("eval.upsampling", self.upsampling, EVAL_UPSAMPLING)
        check_at_least("eval.batch_size", self.batch_size, 1)

    def views(self, multi_scale=False):
        """`(scales, flip)` of single-scale evaluation, or of the multi-scale protocol: the recipe's
        (`multi_scale=True`) or one named ("refinenet", "pspnet", "custom")."""
        if not multi_scale:
            return tuple(self.scales), self.flip
        protocol = self.multi_scale if multi_scale is True else multi_scale
        check_choice("the multi-scale protocol", protocol, [*MULTI_SCALE_PROTOCOLS, "custom"])
        if protocol == "custom":
            return tuple(self.multi_scales), self.flip
        return MULTI_SCALE_PROTOCOLS[protocol]


@dataclasses.dataclass
class Recipe:
    """A whole segmentation experiment."""

    name: str = "experiment"
    description: str = ""
    task: str = "segmentation"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)

    def validate(self):
        """Check values that types alone do not constrain; raises ConfigError naming the key."""
        validate_sections(self)
        ignore, classes = self.data.ignore_label, self.model.num_classes
        if not (0 <= ignore <= 255) or ignore < classes:
            raise ConfigError(f"data.ignore_label ({ignore}) must be in [num_classes, 255] (num_classes is {classes}).")
        modalities = list(self.data.modalities)
        weights = lone_weights(self.train, modalities)
        if self.train.lone_distillation:
            require_lone_passes("train.lone_distillation", weights, "acts on")
        check_modality_dropout(self.train.modality_dropout, self.model, modalities, weights)
        return self
