"""The schema of a translation recipe (pix2pix CEN): domains, data, the U-Net generator, the GAN.

Each section validates itself (`validate()`), naming the key of a bad value.
"""

import dataclasses
from typing import Optional

from cenkeras.config.checks import (
    ConfigError,
    check_at_least,
    check_choice,
    check_list_source,
    validate_sections,
    check_number,
)
from cenkeras.config.network import NetworkConfig, accepts_renamed_arguments
from cenkeras.config.training import RunOptions, check_modality_dropout, lone_weights, require_lone_passes
from cenkeras.data.pipeline import DATA_SOURCES
from cenkeras.data.skipping import ON_ERROR_RULES
from cenkeras.data.verify import VERIFY_RULES
from cenkeras.layers.exchange import ExchangeConfig
from cenkeras.metrics.fid_images import FID_PREPROCESSINGS
from cenkeras.layers.parallel_norm import SCALE_INITS
from cenkeras.models.unet import DECODER_NORMS


@dataclasses.dataclass
class TranslationSyntheticConfig:
    """The embedded synthetic multi-domain scenes (generated locally, no download)."""

    num_train: int = 200
    num_val: int = 24
    size: int = 64
    seed: int = 0


# The domains the paper's translation tables name (Tables 4 and 5).
PAPER_DOMAINS = ("shade", "texture", "depth", "normal")


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
    # This dataset's names of the paper's domains, used by `reproduce table4 / table5`
    # (Taskonomy: reshading, edge_texture, depth_euclidean, normal).
    paper_domains: dict[str, str] = dataclasses.field(default_factory=lambda: {role: role for role in PAPER_DOMAINS})
    resize: int = 286
    crop_size: int = 256
    mirror: bool = True
    allow_outside_root: bool = False
    cache: bool = False
    # Before training: "exists" checks every listed file is there; "decode" reads every
    # sample as training does and reports every problem at once (cenkeras check-data).
    verify: str = "exists"
    # A training sample that fails to decode: "stop" (an error naming the file) or "skip" (left
    # out of its batch, counted and logged in the run's skipped.tsv; cenkeras.data.skipping).
    on_error: str = "stop"
    synthetic: TranslationSyntheticConfig = dataclasses.field(default_factory=TranslationSyntheticConfig)

    def validate(self):
        check_choice("data.source", self.source, DATA_SOURCES)
        if len(self.domains) < 2 or len(set(self.domains)) != len(self.domains):
            raise ConfigError(
                f"data.domains needs distinct input domains and a target (last), got {list(self.domains)}."
            )
        check_list_source(self)
        check_choice("data.verify", self.verify, VERIFY_RULES)
        check_choice("data.on_error", self.on_error, ON_ERROR_RULES)
        if not isinstance(self.paper_domains, dict) or sorted(self.paper_domains) != sorted(PAPER_DOMAINS):
            raise ConfigError(
                f"data.paper_domains must name each of {list(PAPER_DOMAINS)}, got {self.paper_domains!r}."
            )
        if not all(isinstance(name, str) and name for name in self.paper_domains.values()):
            raise ConfigError(f"data.paper_domains: every name must be a non-empty string, got {self.paper_domains!r}.")
        if self.resize < self.crop_size:
            raise ConfigError(f"data.resize ({self.resize}) must be >= data.crop_size ({self.crop_size}).")


@accepts_renamed_arguments
@dataclasses.dataclass
class GeneratorConfig(NetworkConfig):
    """Arguments of `cenkeras.models.build_unet_generator` and the discriminator's width;
    the shared ones in `NetworkConfig` (the paper's threshold for translation is 1e-2)."""

    exchange: ExchangeConfig = dataclasses.field(default_factory=lambda: ExchangeConfig(threshold=1e-2))
    filters: int = 64
    levels: int = 8
    decoder_norms: str = "private"
    # How the instance norm scales of the generator and the discriminator start: "ones", or
    # "uniform" U(0, 1) as PyTorch 1.0 (the official code's) initialised them; see
    # cenkeras.layers.ParallelNormalization.
    norm_scale_init: str = "ones"
    discriminator_filters: int = 64

    def validate(self):
        super().validate()
        check_choice("model.decoder_norms", self.decoder_norms, DECODER_NORMS)
        check_choice("model.norm_scale_init", self.norm_scale_init, SCALE_INITS)


@dataclasses.dataclass
class GanTrainConfig(RunOptions):
    """Conditional GAN training as the official code does it (Adam 2e-4, betas 0.5/0.999).

    `sparsity` is the lambda of the L1 term on the encoder norm scales,
    added once to the generator's loss (unlike segmentation, where the
    official code adds it once per output).

    `select_by` picks best.weights.h5: "l1" (the ensemble's validation L1,
    every `val_every` epochs) or "fid", the official choice: every
    `fid_every` epochs the FID of every output, the best over outputs and
    epochs kept (needs the FID network's weights, `eval.inception_weights`),
    or "auto": "fid" when those weights are at hand (given, or cached on
    disk), else "l1", which the run's summary then says.

    `lone_discriminator` (with the lone passes, `train.lone_weight`): the
    discriminator step also takes each domain's lone image as a fake, times
    that domain's lone weight, so the judge of a lone pass has seen lone
    images (without it, it learns from the full set's images only).
    """

    epochs: int = 200
    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    l1_weight: float = 100.0
    sparsity: float = 1e-3
    batch_size: int = 1
    val_every: int = 10
    select_by: str = "l1"
    fid_every: int = 5  # official val_every
    lone_discriminator: bool = False

    def validate(self):
        super().validate()
        check_choice("train.select_by", self.select_by, ("l1", "fid", "auto"))
        check_at_least("train.fid_every", self.fid_every, 1)
        for key in ("lr_generator", "lr_discriminator", "l1_weight", "sparsity"):
            check_number(f"train.{key}", getattr(self, key))
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("train.epochs and train.batch_size must be >= 1.")


# How evaluation runs the generator (see TranslationEvalConfig).
GENERATOR_MODES = ("inference", "official")


@dataclasses.dataclass
class TranslationEvalConfig:
    """Evaluation: L1 / PSNR / SSIM always; FID / KID when Inception weights are available.

    `inception_weights` names the FID network's file: pytorch-fid's
    `pt_inception-2015-12-05-*.pth` (the paper's network; needs the `torch`
    extra) or a Keras InceptionV3 no-top `.h5`. When unset, a copy cached on
    disk by pytorch-fid (~/.cache/torch/hub/checkpoints) or Keras
    (~/.keras/models) is used, and FID/KID are skipped otherwise (nothing is
    downloaded). `fid_preprocessing` is "official" (each image min-max
    stretched and drawn through matplotlib at 500 px, as the official
    evaluation saves it; see `cenkeras.metrics.fid_images`) or "direct"
    ([-1, 1] mapped to [0, 1]). KID is reported x 100, as in the paper.

    `generator_mode` is how the generator runs for evaluation and for FID
    checkpoint selection: "official" as the official code, which never
    switches its generator to eval mode (instance statistics and the
    decoder's Dropout(0.5) dropping, its masks drawn from `dropout_seed`
    afresh each time, so a run's FID is repeatable); "inference" deterministic (instance
    statistics, no dropout), as `translate`, `predict` and the exports run it.
    """

    batch_size: int = 4
    generator_mode: str = "inference"
    dropout_seed: int = 0
    inception_weights: Optional[str] = None
    fid_preprocessing: str = "official"
    kid_subsets: int = 50
    kid_subset_size: int = 1000
    save_images: bool = True

    def validate(self):
        check_at_least("eval.batch_size", self.batch_size, 1)
        check_choice("eval.fid_preprocessing", self.fid_preprocessing, FID_PREPROCESSINGS)
        check_choice("eval.generator_mode", self.generator_mode, GENERATOR_MODES)


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

    def validate(self):
        """Check values that types alone do not constrain; raises ConfigError naming the key."""
        validate_sections(self)
        multiple = 2**self.model.levels
        if self.data.crop_size % multiple:
            raise ConfigError(
                f"data.crop_size ({self.data.crop_size}) must be a multiple of 2**model.levels ({multiple})."
            )
        if self.data.source == "synthetic" and self.data.synthetic.size % multiple:
            raise ConfigError(
                f"data.synthetic.size ({self.data.synthetic.size}) must be a multiple of 2**model.levels ({multiple})."
            )
        modalities = list(self.data.domains[:-1])
        weights = lone_weights(self.train, modalities)
        check_modality_dropout(self.train.modality_dropout, self.model, modalities, weights)
        if self.train.lone_discriminator:
            require_lone_passes("train.lone_discriminator", weights, "judges")
        return self
