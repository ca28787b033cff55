"""The recipe key reference: every key a recipe holds, with its type, default, meaning and origin.

The keys, types and defaults are read from the schema's dataclasses, so the
reference follows the schema; the meaning of each key and where its default
comes from are written here, one line each. A key missing from `KEY_HELP`
is an error (`reference_rows` raises), so a new key cannot reach the docs
undescribed. The docs build turns `reference_markdown()` into the "Recipe
keys" page.

Origins: "official" (the official CEN code's value), "paper" (the paper's
text), "PSPNet" / "pix2pix" (those papers' settings), "cenkeras" (an option
of this implementation; its default keeps the official behaviour where one
exists).

Examples:
    >>> rows = reference_rows("segmentation")
    >>> next(row for row in rows if row.key == "model.exchange.threshold").default
    '0.02'
"""

import dataclasses
import typing

from cenkeras.config.listing import DESCRIPTIVE_KEYS, format_value, is_section_mapping

# key -> (origin of the default, one line of help). `<name>` stands for a modality or
# architecture name. A key that means something else in translation has a "translation:" entry.
KEY_HELP = {
    "model.exchange.threshold": ("paper", "theta: a channel whose |gamma| is under it takes the other streams' mean"),
    "model.exchange.scope": ("official", "channels tested: all (official code), part (modality m's part), none (off)"),
    "model.exchange.rule": (
        "paper",
        "threshold (CEN); ablations fixed, random (a portion whatever gamma), discard, sum, gated_sum",
    ),
    "model.exchange.portion": ("paper", "fraction of each part that the fixed and random rules exchange"),
    "model.exchange.sparsity_scope": ("paper", "where the L1 term acts: modality m's part of gamma, or all of it"),
    "model.exchange.placement": ("paper", "every_block (every bottleneck's bn2) or downsampling (first of each stage)"),
    "model.fusion.method": ("paper", "exchange (CEN) or a baseline: concat, average, self_attention, align, cbn"),
    "model.fusion.stage": ("paper", "where a baseline fuses: early, middle, late or all"),
    "model.fusion.alignment_weight": ("cenkeras", "weight of the align baseline's MMD loss"),
    "model.share_convs": ("paper", "one set of convolutions for every modality (false: one encoder each)"),
    "model.share_norms": ("paper", "one norm for every modality (the ablation; false: private norms)"),
    "model.dropout": ("official", "rate of the network's dropout layers"),
    "model.stack_streams": ("cenkeras", "run the M streams as one batch through shared layers (same results, faster)"),
    "model.affine_inference": ("cenkeras", "norms on running statistics as one multiply-add (same results, faster)"),
    "model.ensemble": ("official", "alpha (softmax(alpha) over the branches) or concat (the ablation's block)"),
    "model.lone_norms": ("cenkeras", "each modality's own norms for when it runs alone (needs train.modality_dropout)"),
    "model.architecture": ("official", "refinenet (official code), pspnet (the paper's best) or a registered one"),
    "model.depth": ("official", "ResNet depth of the encoder: 50, 101 or 152"),
    "model.num_classes": ("official", "number of classes (NYUDv2: 40)"),
    "model.stage_blocks": ("cenkeras", "bottlenecks per stage, overriding depth (tiny networks); none: from depth"),
    "model.base_width": ("official", "width of the stem (64); stages are 4, 8, 16, 32 times it at their output"),
    "model.decoder_width": ("official", "RefineNet's width, or PSPNet's auxiliary head width (main head: twice)"),
    "model.backbone_weights": ("official", "ImageNet ResNet (.safetensors, .pth or .npz) copied into every stream"),
    "model.decoder.pyramid_bins": ("PSPNet", "grid sizes the pyramid pools layer4 to"),
    "model.decoder.auxiliary_weight": ("PSPNet", "weight of the auxiliary head's loss on layer3 (0: no head)"),
    "model.filters": ("pix2pix", "width of the U-Net's first level"),
    "model.levels": ("pix2pix", "U-Net levels (8 for 256 px inputs)"),
    "model.decoder_norms": ("official", "private norms in the decoder (official code) or shared (the paper's text)"),
    "model.norm_scale_init": ("official", "instance-norm scales start at ones or U(0, 1) (PyTorch 1.0, official)"),
    "model.discriminator_filters": ("pix2pix", "width of the PatchGAN discriminator's first layer"),
    "data.source": ("cenkeras", "synthetic (scenes generated locally) or list (list files under data.root)"),
    "data.root": ("official", "dataset folder the list files' paths start from (--data-dir sets it)"),
    "data.train_list": ("official", "training list file, relative to data.root"),
    "data.val_list": ("official", "validation list file, relative to data.root"),
    "data.modalities.<name>.kind": ("official", "how the file is read: rgb, hha, image, gray or depth (16-bit PNG)"),
    "data.modalities.<name>.column": ("official", "column of the list file that holds this modality's path"),
    "data.modalities.<name>.scale": ("official", "depth: PNG value times this (1/5000: NYUDv2 metres)"),
    "data.modalities.<name>.depth_mode": ("official", "depth: scale, or minmax (each map to 0..255, SUN RGB-D)"),
    "data.modalities.<name>.mean": ("official", "per-channel mean subtracted after /255 (ImageNet's)"),
    "data.modalities.<name>.std": ("official", "per-channel std divided by after the mean (ImageNet's)"),
    "data.modalities.<name>.channels": ("cenkeras", "channels of the file to read (e.g. 3 of an RGB-T PNG); none: all"),
    "data.mask_column": ("official", "column of the list file that holds the mask's path"),
    "data.ignore_label": ("official", "label value left out of the loss and the scores"),
    "data.out_of_range": ("cenkeras", "a label >= num_classes that is not ignore_label: error or ignore"),
    "data.align": ("official", "inputs whose size differs from the mask: crop (centre), resize or reject"),
    "data.allow_outside_root": ("cenkeras", "let list paths leave data.root (off: such a path is an error)"),
    "data.shorter_side": ("official", "training images are resized so their shorter side is this, then scaled"),
    "data.crop_size": ("official", "side of the square training crop"),
    "data.low_scale": ("official", "smallest random scale of training augmentation"),
    "data.high_scale": ("official", "largest random scale of training augmentation"),
    "data.mirror": ("official", "random horizontal flips in training"),
    "data.cache": ("cenkeras", "keep decoded samples in memory after their first read"),
    "data.verify": ("cenkeras", "before training: exists (every listed file) or decode (every sample read)"),
    "data.on_error": ("cenkeras", "a training sample that fails to decode: stop (error) or skip (counted)"),
    "data.synthetic.num_train": ("cenkeras", "number of generated training scenes"),
    "data.synthetic.num_val": ("cenkeras", "number of generated validation scenes"),
    "data.synthetic.height": ("cenkeras", "height of the generated scenes"),
    "data.synthetic.width": ("cenkeras", "width of the generated scenes"),
    "data.synthetic.size": ("cenkeras", "side of the generated square scenes"),
    "data.synthetic.seed": ("cenkeras", "seed of the generated scenes"),
    "data.inputs": ("cenkeras", "keep only these modalities, in this order (a uni-modal baseline); none: all"),
    "data.domains": ("official", "input domains, then the target domain (last)"),
    "data.paper_domains": ("cenkeras", "this dataset's names of the paper's domains (reproduce table4 / table5)"),
    "data.resize": ("pix2pix", "images are resized to this square before the random crop"),
    "translation:data.crop_size": ("pix2pix", "side of the square training crop (the network's input)"),
    "train.precision": ("cenkeras", "auto (bf16 where the hardware computes it), float32 or mixed_bfloat16"),
    "train.jit_compile": ("cenkeras", "XLA-compile the train step (slower on CPU)"),
    "train.steps_per_epoch": ("cenkeras", "steps per epoch; none: one pass over the training set"),
    "train.val_every": ("official", "validate (and keep the best checkpoint) every N epochs"),
    "train.seed": ("cenkeras", "seed of the initial weights, the training order and the augmentation"),
    "train.deterministic": ("cenkeras", "op determinism: a resumed run ends with the uninterrupted run's weights"),
    "train.strategy": ("cenkeras", "auto, default, mirrored (all GPUs of a machine) or multiworker (TF_CONFIG)"),
    "train.worker_timeout": ("cenkeras", "seconds without a worker's heartbeat before the others stop"),
    "train.start_timeout": ("cenkeras", "seconds all workers have to join at the start"),
    "train.step_timeout": ("cenkeras", "seconds without a finished step before a multi-worker run counts as stuck"),
    "train.first_step_timeout": ("cenkeras", "the same for a step that builds and compiles its function"),
    "train.modality_dropout": ("cenkeras", "probability that a batch drops each modality (never all); 0: off"),
    "train.lone_weight": ("cenkeras", "every step also trains each modality alone, its loss times this; 0: off"),
    "train.lone_weights": ("cenkeras", "modality:weight items: another lone weight for these modalities"),
    "train.lone_distillation": ("cenkeras", "weight of the KL from the full set's ensemble to each lone output"),
    "train.lone_discriminator": ("cenkeras", "the discriminator also learns each lone pass's images as fakes"),
    "train.epochs": ("official", "epochs per stage; each stage has its own learning rates"),
    "train.resnet152_epochs": ("official", "the schedule of a ResNet-152 on this data (reproduce); empty: epochs"),
    "train.lr_encoder": ("official", "SGD learning rate of the encoder, per stage"),
    "train.lr_decoder": ("official", "SGD learning rate of the decoder, per stage"),
    "train.momentum": ("official", "SGD momentum"),
    "train.weight_decay": ("official", "L2 weight decay"),
    "train.warmup_steps": ("cenkeras", "linear learning-rate warm-up over the first steps (0: none, as official)"),
    "train.sparsity": ("official", "lambda of the L1 term on the bn2 scales, added once per output (official)"),
    "translation:train.sparsity": ("official", "lambda of the L1 term on the encoder norm scales"),
    "train.batch_size": ("official", "global batch (split across replicas)"),
    "train.freeze_bn": ("official", "freeze the encoder's BatchNorm statistics (needs model.backbone_weights)"),
    "train.sync_bn": ("cenkeras", "synchronise BatchNorm statistics across replicas when not frozen"),
    "translation:train.epochs": ("official", "training epochs"),
    "train.lr_generator": ("official", "Adam learning rate of the generator"),
    "train.lr_discriminator": ("official", "Adam learning rate of the discriminator"),
    "train.beta_1": ("official", "Adam beta_1 of both optimizers"),
    "train.beta_2": ("official", "Adam beta_2 of both optimizers"),
    "train.l1_weight": ("official", "weight of the generator's L1 loss against the target"),
    "train.select_by": ("official", "best checkpoint by l1, fid (official, needs the FID network) or auto"),
    "train.fid_every": ("official", "epochs between the FID validations of select_by=fid"),
    "eval.scales": ("official", "scales of single-scale evaluation (probabilities averaged)"),
    "eval.flip": ("official", "also average over horizontal flips"),
    "eval.multi_scale": ("paper", "protocol of eval --multi-scale: refinenet (0.4-1.2), pspnet or custom"),
    "eval.multi_scales": ("cenkeras", "scales of the custom multi-scale protocol"),
    "eval.upsampling": ("official", "logits to label size: bilinear or bicubic (OpenCV's, the official eval)"),
    "eval.batch_size": ("cenkeras", "evaluation batch (1 where image sizes differ)"),
    "eval.generator_mode": ("official", "official (instance statistics, seeded dropout) or inference"),
    "eval.dropout_seed": ("cenkeras", "seed of the decoder dropout masks in the official generator mode"),
    "eval.inception_weights": ("official", "FID network's file (pytorch-fid .pth or Keras .h5); none: a cached copy"),
    "eval.fid_preprocessing": ("official", "official (min-max stretch, 500 px matplotlib PNG) or direct"),
    "eval.kid_subsets": ("official", "number of random subsets KID averages over"),
    "eval.kid_subset_size": ("official", "images per KID subset"),
    "eval.save_images": ("official", "write the generated images as the official evaluation does"),
}


@dataclasses.dataclass(frozen=True)
class KeyRow:
    """One key of the reference."""

    key: str
    type: str
    default: str
    origin: str
    help: str


def type_name(annotation):
    """`tuple[int, ...]` -> "ints", `Optional[str]` -> "str or none"."""
    if typing.get_origin(annotation) is typing.Union:
        inner = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(type_name(arg) for arg in inner) + " or none"
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        return f"{type_name(args[0])}s (comma-separated)" if args else "values (comma-separated)"
    if typing.get_origin(annotation) is dict:
        return "mapping (in a recipe file, not --set)"
    return getattr(annotation, "__name__", str(annotation))


def _help_for(task, key):
    entry = KEY_HELP.get(f"{task}:{key}") or KEY_HELP.get(key)
    if entry is None:
        raise KeyError(f"{key} ({task}) has no entry in cenkeras.config.reference.KEY_HELP: describe it there.")
    return entry


def _rows(task, node, prefix):
    hints = typing.get_type_hints(type(node))
    rows = []
    for field in dataclasses.fields(node):
        key, value = f"{prefix}{field.name}", getattr(node, field.name)
        if key in DESCRIPTIVE_KEYS:
            continue
        if key == "model.decoder":  # the architecture's own section: every architecture's keys
            rows += _decoder_rows(task)
        elif dataclasses.is_dataclass(value):
            rows += _rows(task, value, f"{key}.")
        elif is_section_mapping(value):
            # One entry per modality: the section's own defaults, under a `<name>` placeholder.
            rows += _rows(task, type(next(iter(value.values())))(), f"{key}.<name>.")
        else:
            origin, help_text = _help_for(task, key)
            shown = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) else format_value(value)
            rows.append(KeyRow(key, type_name(hints[field.name]), shown, origin, help_text))
    return rows


def _decoder_rows(task):
    """`model.decoder.*` of every built-in architecture that has options of its own."""
    from cenkeras.models.architectures import BUILT_IN, get_architecture

    rows = []
    for name in BUILT_IN:
        options = get_architecture(name).options
        if dataclasses.fields(options):
            for row in _rows(task, options(), "model.decoder."):
                rows.append(dataclasses.replace(row, help=f"{row.help} (architecture {name})"))
    return rows


def reference_rows(task):
    """Every key of a `task` ("segmentation" or "translation") recipe, defaults from the schema."""
    from cenkeras.config.segmentation import Recipe
    from cenkeras.config.translation import TranslationRecipe

    recipe = {"segmentation": Recipe, "translation": TranslationRecipe}[task]()
    return _rows(task, recipe, "")


TABLE_HEAD = "| key | type | default | from | meaning |"


def reference_markdown():
    """The reference as markdown: one table per task and section."""
    lines = []
    for task in ("segmentation", "translation"):
        lines += [f"## {task.capitalize()} recipes", ""]
        section = None
        for row in reference_rows(task):
            head = row.key.split(".")[0]
            if head != section:
                section = head
                lines += ["", f"### {task} `{section}`", "", TABLE_HEAD, "|---|---|---|---|---|"]
            default = f"`{row.default}`" if row.default else "(empty)"
            meaning = row.help.replace("|", "\\|")  # a pipe would end the table cell
            lines.append(f"| `{row.key}` | {row.type} | {default} | {row.origin} | {meaning} |")
        lines.append("")
    return "\n".join(lines)
