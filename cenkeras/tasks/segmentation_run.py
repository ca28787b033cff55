"""The segmentation task: a CEN segmenter (RefineNet, PSPNet, or another registered architecture)
trained with two SGDs, scored by confusion matrices."""

import dataclasses
import warnings
from pathlib import Path

import keras

from cenkeras.data.class_names import recipe_class_names
from cenkeras.training.callbacks import StagedLearningRates, write_json
from cenkeras.config import ConfigError, Recipe, describe_fusion, network_options
from cenkeras.config.training import lone_weights
from cenkeras.data.pipeline import (
    list_sample_checks,
    depth_modalities,
    preprocessors,
    evaluation_dataset,
    raw_dataset,
    training_dataset,
)
from cenkeras.interop import StateDictError, load_torch_state_dict, read_state_dict
from cenkeras.models.architectures import get_architecture
from cenkeras.training.precision import resolve_precision
from cenkeras.tasks.base import Fitting, Task, TrainingData, skip_log_for, skips
from cenkeras.tasks.segmentation import (
    SegmentationTrainer,
    class_iou_table,
    evaluate_segmenter,
    format_scores_table,
)

ENCODER_KEY_PREFIXES = ("conv1.", "bn1.", "layer")


def build_segmenter(recipe):
    """The segmenter a recipe describes: its `model.architecture`'s builder, given the shared
    options and the architecture's own (`model.decoder`).

    The recipe's `train.sparsity` is the official lambda, which the official
    code adds once per output (M + 1 times): the layer penalty is lambda x (M + 1).
    """
    model, train = recipe.model, recipe.train
    names = list(recipe.data.modalities)
    options = {
        "network": network_options(model, sparsity=train.sparsity * (len(names) + 1)),
        "freeze_norm_statistics": train.freeze_bn,
        "synchronized_bn": train.sync_bn,
        "stage_blocks": model.stage_blocks,
        "base_width": model.base_width,
        "decoder_width": model.decoder_width,
        "preprocessing": preprocessors(recipe.data),
        **dataclasses.asdict(model.decoder),
    }
    return get_architecture(model.architecture).build(model.depth, model.num_classes, names, **options)


def describe_segmenter(model):
    """'RefineNet-101', 'PSPNet-152', or the tiny form with blocks and width."""
    name = get_architecture(model.architecture).title
    if model.stage_blocks:
        return f"{name} (blocks {list(model.stage_blocks)}, width {model.base_width})"
    return f"{name}-{model.depth}"


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


def sparsity_drift_per_epoch(recipe, steps_per_epoch):
    """How far the L1 term alone moves a `bn2` scale in the first epoch.

    Each SGD step moves a scale by lr x lambda x (M + 1) towards 0 (the
    subgradient of the L1 term); momentum m multiplies a steady push by 1 / (1 - m).
    """
    train = recipe.train
    penalty = train.sparsity * (len(recipe.data.modalities) + 1)
    return train.lr_encoder[0] * penalty / (1 - train.momentum) * steps_per_epoch


def warn_fast_sparsity(recipe, steps_per_epoch):
    """Warn when the L1 term alone would zero a scale of 1 within one epoch: every channel would be
    exchanged (or pruned) before the network has learnt anything."""
    drift = sparsity_drift_per_epoch(recipe, steps_per_epoch)
    if drift >= 1.0:
        warnings.warn(
            f"train.sparsity={recipe.train.sparsity:g} with train.lr_encoder[0]={recipe.train.lr_encoder[0]:g} "
            f"and {steps_per_epoch} steps per epoch: the L1 term alone moves a BatchNorm scale by {drift:.2g} "
            "in the first epoch, so every scale reaches zero (and every channel is exchanged) before the network "
            "learns anything. The official value is 2e-4 at lr 5e-4.",
            UserWarning,
            stacklevel=2,
        )
    return drift


def describe_precision(precision):
    """'mixed_bfloat16 (auto)' for "auto", the name otherwise."""
    resolved = resolve_precision(precision)
    return f"{resolved} (auto)" if precision == "auto" else resolved


def _numbers(values, separator=", "):
    return separator.join(f"{value:g}" for value in values)


class SegmentationTask(Task):
    """Dense labelling of M aligned modalities (RGB-D, RGB-X) with a CEN segmenter (`CENRefineNet`,
    `CENPSPNet`, or another registered architecture).

    Training follows the official code: cross-entropy at label size on every
    output plus the L1 term, SGD with separate encoder / decoder learning
    rates in stages, BatchNorm statistics frozen by default. Evaluation
    reports pixel accuracy, mean accuracy and mIoU per output.

    Examples:
        >>> from cenkeras.tasks import get_task
        >>> task = get_task("segmentation")
        >>> task.summary(task.recipe_class())["model"]
        'RefineNet-101'
    """

    name = "segmentation"
    recipe_class = Recipe
    monitor = "val_ensemble_miou"
    monitor_mode = "max"
    evaluation_options = ("multi_scale", "flip", "modalities")
    table_metrics = (("pixel_accuracy", "pixel acc"), ("mean_accuracy", "mean acc"), ("mean_iou", "mIoU"))
    percent_scores = True

    def build_network(self, recipe):
        return build_segmenter(recipe)

    def prepare_network(self, network, recipe, verbose):
        if recipe.model.backbone_weights:
            load_backbone(network, recipe.model.backbone_weights, verbose)

    def check_new_run(self, recipe):
        if recipe.train.freeze_bn and recipe.train.sync_bn:
            raise ConfigError(
                "train.sync_bn=true synchronises batch statistics across replicas, but train.freeze_bn=true "
                "never computes any (the norms use their stored statistics): set one of them to false."
            )
        if recipe.train.freeze_bn and not recipe.model.backbone_weights:
            raise ConfigError(
                "train.freeze_bn=true keeps the encoder's BatchNorm statistics as they start, and without "
                "model.backbone_weights the encoder starts from random weights, whose statistics are mean 0 / "
                "variance 1: the encoder would train with no normalisation at all and end far below the paper. "
                "Start from ImageNet weights (--set model.backbone_weights=PATH, a torchvision ResNet "
                ".safetensors, .pth or .npz; the README says where to get one) or learn the statistics "
                "(--set train.freeze_bn=false)."
            )

    def sample_checks(self, recipe, data):
        num_classes = recipe.model.num_classes
        return {
            "train": list_sample_checks(data.train_list, "train", data, num_classes),
            "validation": list_sample_checks(data.val_list, "validation", data, num_classes),
        }

    def training_data(self, recipe, data, data_dir, run):
        num_classes, synthetic_dir = recipe.model.num_classes, self.synthetic_dir(data, data_dir)
        skip_log = skip_log_for(data)
        raw_train, count = raw_dataset("train", data, num_classes, synthetic_dir, skip_log=skip_log)
        raw_val, _ = raw_dataset("validation", data, num_classes, synthetic_dir)
        steps = self.steps_per_epoch(recipe, count)
        warn_fast_sparsity(recipe, steps)
        train = training_dataset(
            raw_train,
            data,
            recipe.train.batch_size,
            recipe.train.seed,
            first_step=self.first_step(run, steps),
            modality_dropout=recipe.train.modality_dropout,
        )
        return TrainingData(train, evaluation_dataset(raw_val, data, recipe.eval.batch_size), steps, skip_log)

    def build_trainer(self, recipe, network):
        train = recipe.train
        encoder_optimizer = keras.optimizers.SGD(train.lr_encoder[0], momentum=train.momentum)
        decoder_optimizer = keras.optimizers.SGD(train.lr_decoder[0], momentum=train.momentum)
        trainer = SegmentationTrainer(
            network,
            encoder_optimizer,
            decoder_optimizer,
            num_classes=recipe.model.num_classes,
            ignore_label=recipe.data.ignore_label,
            weight_decay=train.weight_decay,
            count_skipped=skips(recipe.data),
            modality_dropout=train.modality_dropout > 0,
            upsampling=recipe.eval.upsampling,
            lone_weight=lone_weights(train, network.modalities),
            lone_distillation=train.lone_distillation,
        )
        trainer.compile(optimizer=encoder_optimizer, jit_compile=train.jit_compile)
        trainer.build_optimizers()
        optimizers = {"encoder": encoder_optimizer, "decoder": decoder_optimizer}
        schedule = StagedLearningRates(
            optimizers,
            train.epochs,
            {"encoder": train.lr_encoder, "decoder": train.lr_decoder},
            warmup_steps=train.warmup_steps,
        )
        return Fitting(trainer, schedule.optimizers, schedule)

    def total_epochs(self, recipe):
        return sum(recipe.train.epochs)

    def evaluate(
        self,
        run_dir,
        data_dir=None,
        weights=None,
        verbose=1,
        multi_scale=False,
        flip=None,
        out_file=None,
        modalities=None,
    ):
        """Pixel acc / mean acc / mIoU (and per-class IoU) of every output; writes eval.json.

        `multi_scale` runs a multi-scale protocol instead of `eval.scales`: the
        recipe's `eval.multi_scale` (True) or one named ("refinenet", "pspnet",
        "custom"; see `EvalConfig`); `flip` averages over horizontal flips too,
        or not (default: what the protocol does). Logits are upsampled as
        `eval.upsampling` says.
        `modalities` evaluates the network run from those only, as when the
        others' sensor is missing (`MultimodalModel.subset`); the result goes
        to eval_<modalities>.json. `out_file` replaces the run's eval file as
        where the result goes. Returns `{output: scores}` (see
        `cenkeras.metrics.scores_from_confusion`).
        """
        run, recipe, data = self.open_run(run_dir, data_dir)
        weights = Path(weights) if weights else run.weights_for_eval()
        _, segmenter = self.load_network(run, weights)
        if modalities:
            segmenter = self.network_subset(segmenter, modalities)
            out_file = out_file or run.eval_file_for(segmenter.modalities)
        raw_val, count = raw_dataset("validation", data, recipe.model.num_classes, self.synthetic_dir(data, data_dir))
        batch = recipe.eval.batch_size
        scales, protocol_flip = recipe.eval.views(multi_scale)
        flip = protocol_flip if flip is None else flip
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
            upsampling=recipe.eval.upsampling,
        )
        write_json(
            Path(out_file) if out_file else run.eval_file,
            {
                "weights": str(weights),
                "modalities": list(segmenter.modalities),
                "protocol": (recipe.eval.multi_scale if multi_scale is True else multi_scale) or "single-scale",
                "scales": list(scales),
                "flip": flip,
                "upsampling": recipe.eval.upsampling,
                "samples": count,
                "scores": scores,
            },
        )
        return scores

    def summary(self, recipe):
        model = recipe.model
        return {
            "model": describe_segmenter(model),
            "modalities": list(recipe.data.modalities),
            "classes": model.num_classes,
            "encoder": model.backbone_weights or "random initialisation",
            "data": recipe.data.source,
            "epochs": sum(recipe.train.epochs),
            "batch": recipe.train.batch_size,
            "precision": describe_precision(recipe.train.precision),
            "fusion": describe_fusion(model),
            "threshold": model.exchange.threshold,
        }

    def chart_metric(self, available):
        return "mean_iou"  # the paper's headline metric

    def format_results(self, recipe, scores):
        return f"{format_scores_table(scores)}\n\n{class_iou_table(scores, recipe_class_names(recipe))}"

    def protocol(self, recipe, evaluation):
        data, train = recipe.data, recipe.train
        if data.source == "synthetic":
            validation, size = "synthetic scenes", f"{data.synthetic.height}x{data.synthetic.width} scenes"
        else:
            validation = Path(data.val_list).name
            size = f"shorter side {data.shorter_side}, scaled {data.low_scale}-{data.high_scale}"
        views = f"{evaluation.get('protocol', 'single-scale')} (scales {_numbers(evaluation['scales'])}"
        views += ", flipped too)" if evaluation.get("flip") else ", no flip)"
        best = Path(evaluation.get("weights", "best")).name.startswith("best")
        return {
            "validation": f"{validation}, {evaluation['samples']} images",
            "training input": f"{size}, crops {data.crop_size} px",
            "epochs": _numbers(train.epochs, " + "),
            "batch": str(train.batch_size),
            "precision": train.precision,
            "evaluation": f"{views}, logits upsampled {evaluation.get('upsampling', 'bilinear')}",
            "headline": "the ensemble output's scores (each stream's beside them)",
            "checkpoint": f"best ensemble mIoU, validated every {train.val_every} epochs" if best else "last epoch",
        }

    def serving_module(self, network, recipe):
        from cenkeras.serving.export import SegmentationServing

        return SegmentationServing(network, class_names=recipe_class_names(recipe))
