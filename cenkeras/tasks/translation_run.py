"""The translation task: a CEN U-Net generator trained as a conditional GAN, scored by L1 / PSNR / SSIM."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from cenkeras import config as config_lib
from cenkeras.training.callbacks import write_json
from cenkeras.config import TranslationRecipe, describe_fusion, network_options
from cenkeras.config.training import lone_weights
from cenkeras.data.domains import decode_domain
from cenkeras.data.translation_pipeline import (
    template_sample_checks,
    domain_preprocessor,
    raw_translation_dataset,
    translation_evaluation_dataset,
    translation_training_dataset,
)
from cenkeras.layers.instance_norm import use_instance_statistics
from cenkeras.metrics.fid import find_inception_weights
from cenkeras.metrics.fid_images import FID_PREPROCESSINGS
from cenkeras.metrics.image_quality import l1_error, psnr, ssim
from cenkeras.models import build_patchgan_discriminator, build_unet_generator
from cenkeras.models.official_inference import generator_evaluation
from cenkeras.training.runs import RunDirectory
from cenkeras.utils.inference import inference_function
from cenkeras.tasks.fid_selection import (
    BEST_FID,
    FidValidation,
    fid_scorer_for,
    require_fid_weights,
    selects_by_fid,
)
from cenkeras.tasks.base import Fitting, Task, TrainingData, skip_log_for, skips
from cenkeras.tasks.translation import TranslationTrainer


def build_generator(recipe):
    """The recipe's `CENUNetGenerator` (input domains = all but the last)."""
    model, train = recipe.model, recipe.train
    domains = list(recipe.data.domains[:-1])
    return build_unet_generator(
        domains,
        network=network_options(model, sparsity=train.sparsity),
        decoder_norms=model.decoder_norms,
        norm_scale_init=model.norm_scale_init,
        filters=model.filters,
        levels=model.levels,
        preprocessing={domain: domain_preprocessor() for domain in domains},
    )


def _save_png(path, image, preprocessor):
    """A [-1, 1] image as the PNG `preprocessor` (a domain's) would have read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(keras.ops.convert_to_numpy(preprocessor.to_uint8(image))).save(path)


def _evaluate(task, run_dir, data_dir, weights, verbose, options):
    save_images, inception_weights, fid_preprocessing, modalities, out_file = options
    run, recipe, data = task.open_run(run_dir, data_dir)
    _, generator = task.load_network(run, weights)
    eval_file, images_dir = run.eval_file, run.path / "eval_images"
    if modalities:
        generator = task.network_subset(generator, modalities)
        eval_file = run.eval_file_for(generator.modalities)
        images_dir = run.path / f"eval_images_{'+'.join(generator.modalities)}"
    if out_file:  # the images go beside it
        eval_file, images_dir = Path(out_file), Path(out_file).parent / images_dir.name
    domain = domain_preprocessor()
    raw_val, count = raw_translation_dataset("validation", data, task.synthetic_dir(data, data_dir))
    batches = translation_evaluation_dataset(raw_val, data, recipe.eval.batch_size)
    save = recipe.eval.save_images if save_images is None else save_images
    names = list(generator.modalities) + ["ensemble"]
    per_output = {name: {"l1": [], "psnr": [], "ssim": []} for name in names}
    images = {name: [] for name in names + ["real"]}
    generate = inference_function(generator)
    # The official code's generator drops at evaluation too (eval.generator_mode=official).
    with generator_evaluation(generator, recipe.eval.generator_mode, recipe.eval.dropout_seed):
        progress = keras.utils.Progbar(-(-count // recipe.eval.batch_size), verbose=verbose, unit_name="batch")
        index = 0
        for step, (inputs, target) in enumerate(batches):
            # A subset generator reads only its own domains out of the dataset's.
            generated = generate({d: inputs[d] for d in generator.modalities})
            for name in names:
                per_output[name]["l1"] += list(l1_error(generated[name], target).numpy())
                per_output[name]["psnr"] += list(psnr(generated[name], target).numpy())
                per_output[name]["ssim"] += list(ssim(generated[name], target).numpy())
                images[name].append(generated[name].numpy())
            images["real"].append(target.numpy())
            if save:
                for b in range(target.shape[0]):
                    stem = f"{index + b:03d}.png"
                    for m, name in enumerate(names):
                        _save_png(images_dir / f"fake{m}" / stem, generated[name][b], domain)
                    for m, name in enumerate(generator.modalities):
                        _save_png(images_dir / f"input{m}" / stem, inputs[name][b], domain)
                    _save_png(images_dir / "real" / stem, target[b], domain)
            index += int(target.shape[0])
            progress.update(step + 1)
    scores = {name: {metric: float(np.mean(values)) for metric, values in per_output[name].items()} for name in names}
    weights_file = find_inception_weights(inception_weights or recipe.eval.inception_weights)
    report = {
        "weights": str(weights or run.weights_for_eval()),
        "samples": index,
        "inception_weights": weights_file,
        "generator_mode": recipe.eval.generator_mode,
        **({"dropout_seed": recipe.eval.dropout_seed} if recipe.eval.generator_mode == "official" else {}),
    }
    if weights_file:
        scorer = fid_scorer_for(recipe, weights_file, fid_preprocessing)
        real = scorer.features(np.concatenate(images["real"]))
        for name in names:
            scores[name].update(scorer.scores(scorer.features(np.concatenate(images[name])), real))
        report["fid_network"] = scorer.description
    write_json(eval_file, {**report, "modalities": list(generator.modalities), "scores": scores})
    return TranslationScores(scores, fid_network=report.get("fid_network"))


def _best_weights(evaluation):
    """Whether an evaluation scored the run's best checkpoint (eval.json files from before the
    "weights" entry: assumed so, as evaluation takes the best where there is one)."""
    return Path(evaluation.get("weights", "best")).name.startswith("best")


def _selection_summary(recipe):
    """How the run keeps its best checkpoint, in words; why, when `select_by=auto` falls back to L1."""
    if selects_by_fid(recipe):
        return f"best FID of any output, every {recipe.train.fid_every} epochs"
    l1 = f"ensemble L1, every {recipe.train.val_every} epochs"
    if recipe.train.select_by == "auto":
        return f"{l1} (no FID network found; the official choice, FID, needs eval.inception_weights)"
    return l1


class TranslationScores(dict):
    """`{output: {metric: value}}`, plus what made the FID (None when it was not computed)."""

    def __init__(self, scores, fid_network=None):
        super().__init__(scores)
        self.fid_network = fid_network


# Column labels: the unit of KID goes in its header, as the paper reports it.
TRANSLATION_METRICS = (("l1", "L1"), ("psnr", "PSNR"), ("ssim", "SSIM"), ("fid", "FID"), ("kid_x100", "KID×100"))


def format_translation_table(scores):
    """A Markdown table of L1 / PSNR / SSIM (and FID / KID x 100 when computed) per output."""
    available = next(iter(scores.values()))
    metrics = [(key, label) for key, label in TRANSLATION_METRICS if key in available]
    lines = ["| output | " + " | ".join(label for _, label in metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, values in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[key]:.4f}" for key, _ in metrics) + " |")
    return "\n".join(lines)


class TranslationTask(Task):
    """Multi-domain image translation (Taskonomy-style) with `CENUNetGenerator` and a PatchGAN.

    Training follows the official pix2pix CEN: Adam for generator and
    discriminator, GAN + weighted L1 loss per output plus the L1 sparsity
    term. Evaluation reports L1 / PSNR / SSIM per output (FID / KID given
    InceptionV3 weights) and saves the images like the official code.

    Examples:
        >>> from cenkeras.tasks import get_task
        >>> task = get_task("translation")
        >>> task.summary(task.recipe_class())["domains"]
        'shade + texture -> rgb'
    """

    name = "translation"
    recipe_class = TranslationRecipe
    monitor = "val_ensemble_l1"
    monitor_mode = "min"
    evaluation_options = ("inception_weights", "save_images", "fid_preprocessing", "modalities")
    table_metrics = (("l1", "L1"), ("fid", "FID"), ("kid_x100", "KID×100"))
    percent_scores = False

    def build_network(self, recipe):
        return build_generator(recipe)

    def sample_checks(self, recipe, data):
        return {
            "train": template_sample_checks(data.train_list, "train", data),
            "validation": template_sample_checks(data.val_list, "validation", data),
        }

    def training_data(self, recipe, data, data_dir, run):
        synthetic_dir = self.synthetic_dir(data, data_dir)
        skip_log = skip_log_for(data)
        raw_train, count = raw_translation_dataset("train", data, synthetic_dir, skip_log=skip_log)
        raw_val, _ = raw_translation_dataset("validation", data, synthetic_dir)
        steps = self.steps_per_epoch(recipe, count)
        train = translation_training_dataset(
            raw_train,
            data,
            recipe.train.batch_size,
            recipe.train.seed,
            first_step=self.first_step(run, steps),
            modality_dropout=recipe.train.modality_dropout,
        )
        validation = translation_evaluation_dataset(raw_val, data, recipe.eval.batch_size)
        return TrainingData(train, validation, steps, skip_log)

    def build_trainer(self, recipe, network):
        cfg = recipe.train
        discriminator = build_patchgan_discriminator(
            filters=recipe.model.discriminator_filters, scale_init=recipe.model.norm_scale_init
        )
        g_opt = keras.optimizers.Adam(cfg.lr_generator, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        d_opt = keras.optimizers.Adam(cfg.lr_discriminator, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        # Validation during fit, which picks the best checkpoint, runs the generator as the
        # evaluation (and the official code) do: instance statistics, not the running ones.
        use_instance_statistics(network)
        trainer = TranslationTrainer(
            network,
            discriminator,
            g_opt,
            d_opt,
            l1_weight=cfg.l1_weight,
            count_skipped=skips(recipe.data),
            modality_dropout=cfg.modality_dropout > 0,
            lone_weight=lone_weights(cfg, network.modalities),
            lone_discriminator=cfg.lone_discriminator,
        )
        trainer.compile(optimizer=g_opt, jit_compile=cfg.jit_compile)
        trainer.build_optimizers()
        return Fitting(trainer, {"generator": g_opt, "discriminator": d_opt})

    def selection(self, recipe):
        if selects_by_fid(recipe):
            return BEST_FID, "min"
        return self.monitor, self.monitor_mode

    def epoch_scorers(self, recipe, network, validation, verbose):
        if not selects_by_fid(recipe):
            return []
        scorer, every = fid_scorer_for(recipe), recipe.train.fid_every
        mode = (recipe.eval.generator_mode, recipe.eval.dropout_seed)
        return [FidValidation(network, validation, scorer, every, verbose, generator_mode=mode)]

    def check_new_run(self, recipe):
        if recipe.train.select_by == "fid":
            require_fid_weights(recipe)  # before anything is written

    def load_network(self, run, weights=None):
        """The run's generator with instance statistics at inference, as the official code
        (whose decoder dropout evaluation adds in `eval.generator_mode=official`)."""
        recipe, generator = super().load_network(run, weights)
        use_instance_statistics(generator)
        return recipe, generator

    def evaluate(
        self,
        run_dir,
        data_dir=None,
        weights=None,
        verbose=1,
        inception_weights=None,
        save_images=None,
        fid_preprocessing=None,
        modalities=None,
        out_file=None,
    ):
        """L1 / PSNR / SSIM (and FID / KID×100 with Inception weights) of every output; writes eval.json.

        `inception_weights` and `fid_preprocessing` ("official" or "direct")
        replace the recipe's `eval` keys of the same names for this call.
        Images are saved like the official code: `eval_images/fake0..fake{M}`
        (fake{M} is the ensemble), `input0..input{M-1}` and `real`, one PNG per sample.
        `modalities` evaluates the generator run from those input domains only
        (`MultimodalModel.subset`): scores go to eval_<domains>.json, images
        under eval_images_<domains>. `out_file` replaces the run's eval file
        as where the scores go (the images go beside it).
        """
        if fid_preprocessing not in (None,) + FID_PREPROCESSINGS:
            raise ValueError(f"fid_preprocessing must be one of {FID_PREPROCESSINGS}, got {fid_preprocessing!r}")
        options = (save_images, inception_weights, fid_preprocessing, modalities, out_file)
        return _evaluate(self, run_dir, data_dir, weights, verbose, options)

    def summary(self, recipe):
        domains = list(recipe.data.domains)
        return {
            "task": "translation",
            "domains": f"{' + '.join(domains[:-1])} -> {domains[-1]}",
            "generator": f"U-Net ({recipe.model.levels} levels, width {recipe.model.filters})",
            "data": recipe.data.source,
            "epochs": recipe.train.epochs,
            "batch": recipe.train.batch_size,
            "fusion": describe_fusion(recipe.model),
            "best by": _selection_summary(recipe),
        }

    def format_results(self, recipe, scores):
        text = format_translation_table(scores)
        network = getattr(scores, "fid_network", None)
        if network:
            text += f"\nFID / KID×100 by {network}."
        elif "fid" not in next(iter(scores.values())):
            text += (
                "\n(FID/KID skipped: no Inception weights; pass --inception-weights "
                "pt_inception-2015-12-05-*.pth (the paper's network, needs the torch extra) or a Keras .h5)"
            )
        return text

    def protocol(self, recipe, evaluation):
        data, train = recipe.data, recipe.train
        if data.source == "synthetic":
            validation, size = "synthetic scenes", f"{data.synthetic.size} px scenes resized to {data.resize}"
        else:
            validation, size = Path(data.val_list).name, f"resized to {data.resize}"
        mode = evaluation.get("generator_mode", "inference")
        if mode == "official":
            generator = f"official mode: decoder dropout on, seed {evaluation.get('dropout_seed', 0)}"
        else:
            generator = "inference mode: no dropout"
        fid = evaluation.get("fid_network")
        return {
            "validation": f"{validation}, {evaluation['samples']} images",
            "training input": f"{size}, crops {data.crop_size} px",
            "epochs": str(train.epochs),
            "batch": str(train.batch_size),
            "precision": train.precision,
            "evaluation": f"generator in {generator}",
            "headline": "the paper's: best FID of any output; here each output's scores",
            "checkpoint": _selection_summary(recipe) if _best_weights(evaluation) else "last epoch",
            "FID": f"{fid}, images {recipe.eval.fid_preprocessing}" if fid else "not computed (no FID network given)",
        }

    def chart_metric(self, available):
        return "fid" if "fid" in available else "l1"

    def serving_module(self, network, recipe):
        from cenkeras.serving.export import TranslationServing

        return TranslationServing(network, recipe)

    def translate_files(self, run_dir, inputs, out_path, weights=None):
        """Translate one set of input files (`{domain: path}`) with a trained run; writes `out_path`.

        Each file is decoded like the training data and resized to the recipe's
        crop size; the ensemble output is written as a PNG. Given some of the
        input domains only, the generator runs from those (`MultimodalModel.subset`)
        where it can.
        """
        recipe, generator = self.load_network(RunDirectory(run_dir), weights)
        preprocessors = generator.preprocessors()
        domains = list(generator.modalities)
        missing = [d for d in domains if d not in inputs]
        unexpected = [d for d in inputs if d not in domains]
        refusal = None
        if missing and not unexpected and inputs:
            try:
                generator = generator.subset(list(inputs))
            except ValueError as error:
                refusal = f" ({error})"
        if unexpected or refusal or not inputs:
            raise config_lib.ConfigError(
                f"this model translates {domains} -> {recipe.data.domains[-1]}; "
                f"missing inputs {missing}, unexpected {unexpected}{refusal or ''}."
            )
        expected = list(generator.modalities)
        size = recipe.data.crop_size
        batch = {}
        for domain in expected:
            image = decode_domain(inputs[domain], domain)
            resized = tf.image.resize(preprocessors[domain](image), (size, size), antialias=True)
            batch[domain] = resized[None]
        generated = generator(batch, training=False)
        out_path = Path(out_path)
        _save_png(out_path, generated["ensemble"][0], preprocessors[expected[0]])
        return out_path
