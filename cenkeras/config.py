"""Typed experiment configuration: recipes are trees of these dataclasses.

A recipe (a Python file, see `cenkeras.recipes`) builds a `Recipe`; any
value can then be changed with `apply_overrides(recipe, ["train.epochs=3"])`,
which is what `cenkeras train --set train.epochs=3` does. Unknown keys and
values that do not parse as the field's type are errors naming the key.
"""

import dataclasses
import json
import math
import typing
from typing import Optional

from cenkeras.layers.exchange import EXCHANGE_RULES
from cenkeras.layers.fusion import FUSION_STAGES, FUSIONS
from cenkeras.precision import PRECISIONS


class ConfigError(ValueError):
    """A recipe or override that does not fit the configuration schema."""


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
    """

    kind: str = "rgb"
    column: int = 0
    scale: float = 1.0 / 5000.0
    depth_mode: str = "scale"
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)


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
    modalities: dict = dataclasses.field(
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
    synthetic: SyntheticConfig = dataclasses.field(default_factory=SyntheticConfig)


@dataclasses.dataclass
class ModelConfig:
    """Arguments of `cenkeras.models.build_refinenet` (see there)."""

    depth: int = 101
    num_classes: int = 40
    threshold: float = 2e-2
    exchange: Optional[str] = "all"
    sparsity_scope: str = "part"
    share_convs: bool = True
    share_norms: bool = False
    dropout: float = 0.5
    stage_blocks: Optional[tuple[int, ...]] = None
    base_width: int = 64
    decoder_width: int = 256
    # Speed options (same results): run the M streams as one batch through the shared layers
    # (ignored with share_convs: false), and norms on running statistics as one multiply-add.
    stack_streams: bool = True
    affine_norms: bool = True
    # The paper's comparisons: the exchange rule ("threshold" = CEN; ablations "fixed" and
    # "random" exchange `exchange_portion` of each part without looking at gamma, "discard"
    # zeroes instead of exchanging) and the fusion ("exchange" = CEN, or the baselines
    # "concat", "average", "self_attention", "align" at `fusion_stage`: early/middle/late/all).
    exchange_rule: str = "threshold"
    exchange_portion: float = 0.3
    fusion: str = "exchange"
    fusion_stage: str = "all"
    alignment_weight: float = 0.1
    # Encoder initialisation: a torchvision ImageNet ResNet (.pth, needs torch) or its .npz
    # export; each BatchNorm is copied into every modality's private norm.
    backbone_weights: Optional[str] = None


@dataclasses.dataclass
class TrainConfig:
    """Optimisation. Lists with one value per stage run as consecutive stages."""

    epochs: tuple[int, ...] = (100, 100, 100)
    lr_encoder: tuple[float, ...] = (5e-4, 2.5e-4, 1e-4)
    lr_decoder: tuple[float, ...] = (3e-3, 1.5e-3, 7e-4)
    momentum: float = 0.9
    weight_decay: float = 1e-5
    # Linear learning-rate warm-up over the first steps (0 = none, as the official code).
    warmup_steps: int = 0
    # lambda of the L1 sparsity term, added once per output as the official code does.
    sparsity: float = 2e-4
    batch_size: int = 6
    freeze_bn: bool = True
    # "auto": mixed_bfloat16 where the CPU or GPU computes in bf16 natively, else float32.
    precision: str = "auto"
    jit_compile: bool = False
    steps_per_epoch: Optional[int] = None
    val_every: int = 5
    seed: int = 42
    # Op determinism: the same recipe, seed and machine give the same weights, resumed or not.
    deterministic: bool = False
    strategy: str = "auto"
    # Multi-worker: seconds without a heartbeat before a worker counts as lost (the others then
    # stop with an error), and seconds all workers have to join at the start.
    worker_timeout: int = 60
    start_timeout: int = 600
    sync_bn: bool = False


@dataclasses.dataclass
class EvalConfig:
    """Evaluation: single scale by default; multi-scale and flip as the paper reports."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    multi_scales: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)
    # 1 for datasets whose images differ in size (NYUDv2 after alignment does not, SUN RGB-D does).
    batch_size: int = 1


@dataclasses.dataclass
class Recipe:
    """A whole experiment."""

    name: str = "experiment"
    description: str = ""
    task: str = "segmentation"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)


# --- Translation (pix2pix CEN) ------------------------------------------------------------


@dataclasses.dataclass
class TranslationSyntheticConfig:
    """The embedded synthetic multi-domain scenes (generated locally, no download)."""

    num_train: int = 200
    num_val: int = 24
    size: int = 64
    seed: int = 0


@dataclasses.dataclass
class TranslationDataConfig:
    """Input domains and the target domain (the last of `domains`).

    `source="list"` reads the official Taskonomy layout: `root` plus list files
    whose lines are path templates such as
    `{domain}/point_407_view_2_domain_{domain}.png`; `{domain}` is replaced by
    each domain name. Decoding follows the official code per domain name
    (16-bit depth through log(1 + v), edges by their maxima, grayscale to 3
    channels), then everything maps to [-1, 1].
    """

    source: str = "synthetic"
    root: Optional[str] = None
    train_list: Optional[str] = None
    val_list: Optional[str] = None
    domains: tuple[str, ...] = ("shade", "texture", "rgb")
    resize: int = 286
    crop_size: int = 256
    mirror: bool = True
    allow_outside_root: bool = False
    cache: bool = False
    synthetic: TranslationSyntheticConfig = dataclasses.field(default_factory=TranslationSyntheticConfig)


@dataclasses.dataclass
class GeneratorConfig:
    """Arguments of `cenkeras.models.build_unet_generator` and the discriminator's width."""

    filters: int = 64
    levels: int = 8
    threshold: float = 1e-2
    exchange: Optional[str] = "all"
    sparsity_scope: str = "part"
    decoder_norms: str = "private"
    share_convs: bool = True
    share_norms: bool = False
    dropout: float = 0.5
    discriminator_filters: int = 64
    # Speed options, as in ModelConfig.
    stack_streams: bool = True
    affine_norms: bool = True
    # Exchange rule and fusion, as in ModelConfig.
    exchange_rule: str = "threshold"
    exchange_portion: float = 0.3
    fusion: str = "exchange"
    fusion_stage: str = "all"
    alignment_weight: float = 0.1


@dataclasses.dataclass
class GanTrainConfig:
    """Conditional GAN training as the official code does it (Adam 2e-4, betas 0.5/0.999)."""

    epochs: int = 200
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    l1_weight: float = 100.0
    sparsity: float = 1e-3
    batch_size: int = 1
    precision: str = "auto"
    jit_compile: bool = False
    steps_per_epoch: Optional[int] = None
    val_every: int = 10
    seed: int = 42
    deterministic: bool = False
    strategy: str = "auto"
    worker_timeout: int = 60
    start_timeout: int = 600


@dataclasses.dataclass
class TranslationEvalConfig:
    """Evaluation: L1 / PSNR / SSIM always; FID / KID when InceptionV3 weights are available.

    `inception_weights` is a Keras InceptionV3 no-top weights file (.h5); when
    unset, Keras' cache (~/.keras/models) is used if the file is there, and
    FID/KID are skipped otherwise (nothing is downloaded).
    """

    batch_size: int = 4
    inception_weights: Optional[str] = None
    kid_subsets: int = 50
    kid_subset_size: int = 1000
    save_images: bool = True


@dataclasses.dataclass
class TranslationRecipe:
    """A whole translation experiment."""

    name: str = "translation"
    description: str = ""
    task: str = "translation"
    model: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    data: TranslationDataConfig = dataclasses.field(default_factory=TranslationDataConfig)
    train: GanTrainConfig = dataclasses.field(default_factory=GanTrainConfig)
    eval: TranslationEvalConfig = dataclasses.field(default_factory=TranslationEvalConfig)


RECIPE_TYPES = (Recipe, TranslationRecipe)


# --- Validation --------------------------------------------------------------------------

_CHOICES = {
    ("modality", "kind"): ("rgb", "hha", "image", "gray", "depth"),
    ("modality", "depth_mode"): ("scale", "minmax"),
    ("data", "source"): ("synthetic", "list"),
    ("data", "out_of_range"): ("error", "ignore"),
    ("data", "align"): ("crop", "resize", "reject"),
    ("model", "exchange"): ("all", "part", None),
    ("model", "sparsity_scope"): ("part", "all"),
    ("model", "exchange_rule"): EXCHANGE_RULES,
    ("model", "fusion"): FUSIONS,
    ("model", "fusion_stage"): FUSION_STAGES,
    # mixed_float16 would need loss scaling across two optimizers; bfloat16 needs none and
    # runs at the float16 rate on bf16-capable hardware (see cenkeras.precision).
    ("train", "precision"): PRECISIONS,
    ("train", "strategy"): ("auto", "default", "mirrored", "multiworker"),
}


def _check_choice(section, key, value):
    choices = _CHOICES[(section, key)]
    if value not in choices:
        raise ConfigError(f"{section}.{key} must be one of {list(choices)}, got {value!r}.")


def _check_list_source(data):
    # data.root may stay unset here: `--data-dir` provides it at run time.
    if data.source == "list":
        for key in ("train_list", "val_list"):
            if not getattr(data, key):
                raise ConfigError(f"data.{key} is required when data.source is 'list'.")


def _check_timeouts(train):
    for key in ("worker_timeout", "start_timeout"):
        if getattr(train, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1 second, got {getattr(train, key)}.")


def _check_fusion(model):
    for key in ("exchange_rule", "fusion", "fusion_stage"):
        _check_choice("model", key, getattr(model, key))
    if not 0.0 <= model.exchange_portion <= 1.0:
        raise ConfigError(f"model.exchange_portion must be in [0, 1], got {model.exchange_portion}.")
    if not (math.isfinite(model.alignment_weight) and model.alignment_weight >= 0):
        raise ConfigError(
            f"model.alignment_weight must be a finite number >= 0, got {model.alignment_weight}."
        )


def validate(recipe):
    """Check values that types alone do not constrain; raises ConfigError naming the key."""
    if isinstance(recipe, TranslationRecipe):
        return _validate_translation(recipe)
    data, model, train = recipe.data, recipe.model, recipe.train
    for name, modality in data.modalities.items():
        if not isinstance(modality, ModalityConfig):
            raise ConfigError(f"data.modalities.{name} must be a ModalityConfig.")
        if modality.kind not in _CHOICES[("modality", "kind")]:
            raise ConfigError(
                f"data.modalities.{name}.kind must be one of "
                f"{list(_CHOICES[('modality', 'kind')])}, got {modality.kind!r}."
            )
        if modality.depth_mode not in _CHOICES[("modality", "depth_mode")]:
            raise ConfigError(
                f"data.modalities.{name}.depth_mode must be 'scale' or 'minmax', got {modality.depth_mode!r}."
            )
        if len(modality.mean) != 3 or len(modality.std) != 3 or min(modality.std) <= 0:
            raise ConfigError(f"data.modalities.{name}: mean and std need 3 values, std > 0.")
    if not data.modalities:
        raise ConfigError("data.modalities must name at least one modality.")
    for key in ("source", "out_of_range", "align"):
        _check_choice("data", key, getattr(data, key))
    _check_choice("model", "exchange", model.exchange)
    _check_fusion(model)
    _check_choice("model", "sparsity_scope", model.sparsity_scope)
    _check_choice("train", "precision", train.precision)
    _check_choice("train", "strategy", train.strategy)
    _check_list_source(data)
    if not (0 < data.low_scale <= data.high_scale):
        raise ConfigError("data.low_scale and data.high_scale must satisfy 0 < low <= high.")
    if data.crop_size < 2:
        raise ConfigError(f"data.crop_size must be >= 2, got {data.crop_size}.")
    if not (len(train.epochs) == len(train.lr_encoder) == len(train.lr_decoder)) or not train.epochs:
        raise ConfigError(
            "train.epochs, train.lr_encoder and train.lr_decoder need one value per stage, got "
            f"{len(train.epochs)}, {len(train.lr_encoder)} and {len(train.lr_decoder)}."
        )
    if min(train.epochs) < 1:
        raise ConfigError(f"train.epochs must be >= 1 per stage, got {list(train.epochs)}.")
    for key in ("momentum", "weight_decay", "sparsity"):
        value = getattr(train, key)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"train.{key} must be a finite number >= 0, got {value}.")
    if train.warmup_steps < 0:
        raise ConfigError(f"train.warmup_steps must be >= 0, got {train.warmup_steps}.")
    if train.batch_size < 1:
        raise ConfigError(f"train.batch_size must be >= 1, got {train.batch_size}.")
    _check_timeouts(train)
    if model.num_classes < 1 or model.num_classes > 255:
        raise ConfigError(f"model.num_classes must be in [1, 255], got {model.num_classes}.")
    if not (0 <= data.ignore_label <= 255) or data.ignore_label < model.num_classes:
        raise ConfigError(
            f"data.ignore_label ({data.ignore_label}) must be in [num_classes, 255] "
            f"(num_classes is {model.num_classes})."
        )
    for key in ("scales", "multi_scales"):
        values = getattr(recipe.eval, key)
        if not values or not all(math.isfinite(v) and v > 0 for v in values):
            raise ConfigError(f"eval.{key} must be positive numbers, got {list(values)}.")
    if recipe.eval.batch_size < 1:
        raise ConfigError(f"eval.batch_size must be >= 1, got {recipe.eval.batch_size}.")
    return recipe


def _validate_translation(recipe):
    data, model, train = recipe.data, recipe.model, recipe.train
    _check_choice("data", "source", data.source)
    _check_choice("model", "exchange", model.exchange)
    _check_fusion(model)
    _check_choice("model", "sparsity_scope", model.sparsity_scope)
    _check_choice("train", "precision", train.precision)
    _check_choice("train", "strategy", train.strategy)
    if model.decoder_norms not in ("private", "shared"):
        raise ConfigError(f"model.decoder_norms must be 'private' or 'shared', got {model.decoder_norms!r}.")
    if len(data.domains) < 2 or len(set(data.domains)) != len(data.domains):
        raise ConfigError(
            f"data.domains needs distinct input domains and a target (last), got {list(data.domains)}."
        )
    _check_list_source(data)
    multiple = 2**model.levels
    if data.crop_size % multiple:
        raise ConfigError(
            f"data.crop_size ({data.crop_size}) must be a multiple of 2**model.levels ({multiple})."
        )
    if data.resize < data.crop_size:
        raise ConfigError(f"data.resize ({data.resize}) must be >= data.crop_size ({data.crop_size}).")
    for key in ("lr_generator", "lr_discriminator", "l1_weight", "sparsity"):
        value = getattr(train, key)
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"train.{key} must be a finite number >= 0, got {value}.")
    if train.epochs < 1 or train.batch_size < 1:
        raise ConfigError("train.epochs and train.batch_size must be >= 1.")
    _check_timeouts(train)
    if data.source == "synthetic" and data.synthetic.size % multiple:
        raise ConfigError(
            f"data.synthetic.size ({data.synthetic.size}) must be a multiple of 2**model.levels ({multiple})."
        )
    return recipe


# --- Overrides -----------------------------------------------------------------------------


def _parse_bool(text, key):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: expected true/false, got {text!r}.")


def _parse_sequence(text, key):
    text = text.strip()
    if text.startswith(("[", "(")):
        try:
            items = json.loads("[" + text[1:-1] + "]")
        except json.JSONDecodeError:
            raise ConfigError(f"{key}: cannot parse {text!r} as a list (use e.g. [1,2,3] or 1,2,3).")
        return [str(item) for item in items]
    return [part for part in (p.strip() for p in text.split(",")) if part]


def parse_value(text, annotation, key):
    """Parse the text of `--set key=text` as `annotation` (the field's type)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and type(None) in args:
        if text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return parse_value(text, inner, key)
    if annotation is bool:
        return _parse_bool(text, key)
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {text!r}.")
    if annotation is float:
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}.")
        return value
    if annotation is str:
        return text
    if origin is tuple and args and args[-1] is Ellipsis:
        # Typed sequences (tuple[float, ...]): every item parsed as the element type.
        return tuple(parse_value(item, args[0], key) for item in _parse_sequence(text, key))
    if annotation is tuple or origin is tuple:
        items = _parse_sequence(text, key)
        parsed = []
        for item in items:
            for cast in (int, float):
                try:
                    parsed.append(cast(item))
                    break
                except ValueError:
                    continue
            else:
                parsed.append(item)
        return tuple(parsed)
    raise ConfigError(f"{key}: values of type {annotation} cannot be set from the command line.")


def _field_types(obj):
    return {f.name: f.type for f in dataclasses.fields(obj)}


def set_value(recipe, key, text):
    """Set `key` (dotted path, e.g. `train.epochs` or `data.modalities.depth.scale`)."""
    parts = key.split(".")
    node = recipe
    path = []
    for part in parts[:-1]:
        path.append(part)
        if isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"Unknown key {key!r}: no {'.'.join(path)!r} (have {sorted(node)}).")
            node = node[part]
        elif dataclasses.is_dataclass(node):
            if part not in _field_types(node):
                raise ConfigError(
                    f"Unknown key {key!r}: {'.'.join(path[:-1]) or 'recipe'} has no {part!r} "
                    f"(have {sorted(_field_types(node))})."
                )
            node = getattr(node, part)
        else:
            raise ConfigError(f"Unknown key {key!r}: {'.'.join(path[:-1])} is a value, not a section.")
    last = parts[-1]
    if not dataclasses.is_dataclass(node) or last not in _field_types(node):
        have = sorted(_field_types(node)) if dataclasses.is_dataclass(node) else sorted(node)
        raise ConfigError(f"Unknown key {key!r} (have {have} here).")
    annotation = typing.get_type_hints(type(node))[last]
    if dataclasses.is_dataclass(getattr(node, last)) or annotation is dict:
        raise ConfigError(f"{key!r} is a section; set one of its values, e.g. {key}.<name>=...")
    setattr(node, last, parse_value(text, annotation, key))


def apply_overrides(recipe, overrides):
    """Apply `["a.b=value", ...]`, then validate the recipe."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override {item!r} must look like key=value (e.g. train.epochs=3).")
        key, text = item.split("=", 1)
        set_value(recipe, key.strip(), text.strip())
    return validate(recipe)


def to_dict(recipe):
    """The recipe as plain JSON-able data (what a run directory stores)."""
    return dataclasses.asdict(recipe)


# Keys older versions wrote that no longer mean anything; saved recipes holding them still load.
RETIRED_KEYS = {
    # The training order became a full permutation per pass (cenkeras.data.indexed).
    "DataConfig": {"shuffle_buffer"},
    "TranslationDataConfig": {"shuffle_buffer"},
}


def recipe_from_dict(data):
    """Rebuild a `Recipe` from `to_dict` output (e.g. a run directory's recipe.json)."""

    def build(cls, values):
        values = {k: v for k, v in values.items() if k not in RETIRED_KEYS.get(cls.__name__, ())}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for field in dataclasses.fields(cls):
            if field.name not in values:
                continue
            value = values[field.name]
            hint = hints[field.name]
            if dataclasses.is_dataclass(hint):
                value = build(hint, value)
            elif field.name == "modalities" and isinstance(value, dict):
                value = {name: build(ModalityConfig, v) for name, v in value.items()}
            elif (hint is tuple or typing.get_origin(hint) is tuple) and value is not None:
                value = tuple(value)
            elif typing.get_origin(hint) is typing.Union and isinstance(value, list):
                value = tuple(value)
            kwargs[field.name] = value
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"Unknown keys {sorted(unknown)} in a saved {cls.__name__}.")
        return cls(**kwargs)

    recipe_type = TranslationRecipe if data.get("task") == "translation" else Recipe
    return validate(build(recipe_type, data))
