"""Running segmentation experiments from a recipe: build, train into a run directory, evaluate."""

from pathlib import Path

import keras

from cenkeras import config as config_lib
from cenkeras.callbacks import StagedLearningRates, write_json
from cenkeras.data.pipeline import (
    depth_modalities,
    evaluation_dataset,
    raw_dataset,
    training_dataset,
)
from cenkeras.interop import StateDictError, load_torch_state_dict, read_state_dict
from cenkeras.models import build_refinenet
from cenkeras.precision import resolve_precision
from cenkeras.runs import RunDirectory
from cenkeras.tasks.jobs import (
    check_checkpoint_space,
    describe_fusion,
    first_step,
    fit_run,
    model_scope,
    network_options,
    resolve_list_paths,
    run_callbacks,
    start_run,
)
from cenkeras.tasks.segmentation import SegmentationTrainer, evaluate_segmenter

MONITOR = "val_ensemble_miou"
ENCODER_KEY_PREFIXES = ("conv1.", "bn1.", "layer")


def build_segmenter(recipe):
    """The `CENRefineNet` a recipe describes.

    The recipe's `train.sparsity` is the official lambda, which the official
    code adds once per output (M + 1 times): the layer penalty is lambda x (M + 1).
    """
    model, train = recipe.model, recipe.train
    names = list(recipe.data.modalities)
    return build_refinenet(
        model.depth,
        model.num_classes,
        names,
        sparsity=train.sparsity * (len(names) + 1),
        freeze_norm_statistics=train.freeze_bn,
        synchronized_bn=train.sync_bn,
        stage_blocks=model.stage_blocks,
        base_width=model.base_width,
        decoder_width=model.decoder_width,
        **network_options(model),
    )


def load_backbone(segmenter, path, verbose=1):
    """Initialise the encoder from an ImageNet ResNet state dict (decoder left as is).

    Only encoder keys may be missing from the file and only classifier (`fc.`)
    keys may be left over; anything else means the file is not a ResNet of
    the recipe's depth and is an error listing the keys.
    """
    report = load_torch_state_dict(segmenter, read_state_dict(path), strict=False)
    wrong_missing = [k for k in report.missing if k.startswith(ENCODER_KEY_PREFIXES)]
    wrong_extra = [k for k in report.unexpected if not k.startswith("fc.")]
    if wrong_missing or wrong_extra or not report.loaded:
        raise StateDictError(
            f"{path} does not fit the encoder: missing encoder keys {wrong_missing[:10]}, "
            f"unexpected keys {wrong_extra[:10]}, {len(report.loaded)} loaded."
        )
    if verbose:
        print(f"Encoder initialised from {path}: {report.summary()}")
    return report


def train(recipe, run_dir, data_dir=None, resume=False, verbose=1, callbacks=()):
    """Train the recipe's segmenter into `run_dir`; returns `(segmenter, history)`.

    `resume=True` continues an interrupted (or finished, with more epochs)
    run from its backup. Checkpoints, logs and the recipe are written by the
    chief worker only. Extra Keras `callbacks` run after cenkeras' own.
    """
    recipe, run, strategy, chief = start_run(recipe, run_dir, resume)
    train_cfg = recipe.train
    data = resolve_list_paths(recipe.data, data_dir)
    synthetic_dir = data_dir if data.source == "synthetic" else None

    raw_train, train_count = raw_dataset("train", data, recipe.model.num_classes, synthetic_dir)
    raw_val, val_count = raw_dataset("validation", data, recipe.model.num_classes, synthetic_dir)
    steps = train_cfg.steps_per_epoch or max(train_count // train_cfg.batch_size, 1)
    if train_count < train_cfg.batch_size:
        raise config_lib.ConfigError(
            f"train.batch_size ({train_cfg.batch_size}) is larger than the training set ({train_count})."
        )
    train_batches = training_dataset(
        raw_train, data, train_cfg.batch_size, train_cfg.seed, first_step=first_step(run, steps)
    )
    val_batches = evaluation_dataset(raw_val, data, recipe.eval.batch_size)

    with model_scope(train_cfg, strategy):
        segmenter = build_segmenter(recipe)
        if recipe.model.backbone_weights and not resume:
            load_backbone(segmenter, recipe.model.backbone_weights, verbose)
        encoder_optimizer = keras.optimizers.SGD(train_cfg.lr_encoder[0], momentum=train_cfg.momentum)
        decoder_optimizer = keras.optimizers.SGD(train_cfg.lr_decoder[0], momentum=train_cfg.momentum)
        trainer = SegmentationTrainer(
            segmenter,
            encoder_optimizer,
            decoder_optimizer,
            num_classes=recipe.model.num_classes,
            ignore_label=data.ignore_label,
            weight_decay=train_cfg.weight_decay,
        )
        trainer.compile(optimizer=encoder_optimizer, jit_compile=train_cfg.jit_compile)
        trainer.build_optimizers()
    check_checkpoint_space(run, chief, trainer)

    schedule = StagedLearningRates(
        {"encoder": encoder_optimizer, "decoder": decoder_optimizer},
        train_cfg.epochs,
        {"encoder": train_cfg.lr_encoder, "decoder": train_cfg.lr_decoder},
        warmup_steps=train_cfg.warmup_steps,
    )
    own_callbacks = run_callbacks(run, chief, segmenter, schedule.optimizers, MONITOR, "max", schedule=schedule)
    history = fit_run(trainer, run, strategy, recipe, train_batches, val_batches, sum(train_cfg.epochs), steps,
                      own_callbacks, callbacks, verbose)
    return segmenter, history


def evaluate_run(run_dir, data_dir=None, multi_scale=False, flip=None, weights=None, verbose=1):
    """Evaluate a run's best (else last) weights on its validation data; writes eval.json.

    Returns `{output: scores}` (see `cenkeras.metrics.scores_from_confusion`).
    """
    run = RunDirectory(run_dir)
    recipe = run.load_recipe()
    data = resolve_list_paths(recipe.data, data_dir)
    weights = Path(weights) if weights else run.weights_for_eval()
    segmenter = build_segmenter(recipe)
    segmenter.load_weights(str(weights))
    raw_val, count = raw_dataset(
        "validation", data, recipe.model.num_classes, data_dir if data.source == "synthetic" else None
    )
    batch = recipe.eval.batch_size
    scales = recipe.eval.multi_scales if multi_scale else recipe.eval.scales
    flip = recipe.eval.flip if flip is None else flip
    scores = evaluate_segmenter(
        segmenter,
        evaluation_dataset(raw_val, data, batch),
        recipe.model.num_classes,
        data.ignore_label,
        scales=tuple(scales),
        flip=flip,
        depth_inputs=depth_modalities(data),
        steps=-(-count // batch),
        verbose=verbose,
    )
    write_json(
        run.eval_file,
        {"weights": str(weights), "scales": list(scales), "flip": flip, "samples": count, "scores": scores},
    )
    return scores


def describe_precision(precision):
    """'mixed_bfloat16 (auto)' for "auto", the name otherwise."""
    resolved = resolve_precision(precision)
    return f"{resolved} (auto)" if precision == "auto" else resolved


def recipe_summary(recipe):
    """One dict of the values a user most often checks before a long run."""
    return {
        "model": f"RefineNet-{recipe.model.depth}" if not recipe.model.stage_blocks
        else f"RefineNet (blocks {list(recipe.model.stage_blocks)}, width {recipe.model.base_width})",
        "modalities": list(recipe.data.modalities),
        "classes": recipe.model.num_classes,
        "data": recipe.data.source,
        "epochs": sum(recipe.train.epochs),
        "batch": recipe.train.batch_size,
        "precision": describe_precision(recipe.train.precision),
        "fusion": describe_fusion(recipe.model),
        "threshold": recipe.model.threshold,
    }
