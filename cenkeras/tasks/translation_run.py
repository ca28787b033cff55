"""Running translation experiments from a recipe: build, train, evaluate, translate files."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from cenkeras import config as config_lib
from cenkeras.callbacks import write_json
from cenkeras.data.domains import decode_domain
from cenkeras.data.translation_pipeline import (
    raw_translation_dataset,
    translation_evaluation_dataset,
    translation_training_dataset,
)
from cenkeras.layers.instance_norm import use_instance_statistics
from cenkeras.metrics.fid import (
    InceptionFeatures,
    find_inception_weights,
    frechet_distance,
    kernel_inception_distance,
)
from cenkeras.metrics.image_quality import l1_error, psnr, ssim
from cenkeras.models import build_patchgan_discriminator, build_unet_generator
from cenkeras.runs import RunDirectory
from cenkeras.tasks.jobs import (
    check_checkpoint_space,
    first_step,
    fit_run,
    model_scope,
    network_options,
    resolve_list_paths,
    run_callbacks,
    start_run,
)
from cenkeras.tasks.translation import TranslationTrainer

MONITOR = "val_ensemble_l1"


def build_generator(recipe):
    """The recipe's `CENUNetGenerator` (input domains = all but the last)."""
    model, train = recipe.model, recipe.train
    return build_unet_generator(
        list(recipe.data.domains[:-1]),
        sparsity=train.sparsity,
        decoder_norms=model.decoder_norms,
        filters=model.filters,
        levels=model.levels,
        **network_options(model),
    )


def _data(recipe, data_dir):
    data = resolve_list_paths(recipe.data, data_dir)
    return data, (data_dir if data.source == "synthetic" else None)


def train(recipe, run_dir, data_dir=None, resume=False, verbose=1, callbacks=()):
    """Train the recipe's generator and discriminator into `run_dir`; returns `(generator, history)`."""
    recipe, run, strategy, chief = start_run(recipe, run_dir, resume)
    cfg = recipe.train
    data, synthetic_dir = _data(recipe, data_dir)
    raw_train, count = raw_translation_dataset("train", data, synthetic_dir)
    raw_val, _ = raw_translation_dataset("validation", data, synthetic_dir)
    if count < cfg.batch_size:
        raise config_lib.ConfigError(
            f"train.batch_size ({cfg.batch_size}) is larger than the training set ({count})."
        )
    steps = cfg.steps_per_epoch or max(count // cfg.batch_size, 1)
    train_batches = translation_training_dataset(
        raw_train, data, cfg.batch_size, cfg.seed, first_step=first_step(run, steps)
    )
    val_batches = translation_evaluation_dataset(raw_val, data, recipe.eval.batch_size)

    with model_scope(cfg, strategy):
        generator = build_generator(recipe)
        discriminator = build_patchgan_discriminator(filters=recipe.model.discriminator_filters)
        g_opt = keras.optimizers.Adam(cfg.lr_generator, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        d_opt = keras.optimizers.Adam(cfg.lr_discriminator, beta_1=cfg.beta_1, beta_2=cfg.beta_2)
        trainer = TranslationTrainer(generator, discriminator, g_opt, d_opt, l1_weight=cfg.l1_weight)
        trainer.compile(optimizer=g_opt, jit_compile=cfg.jit_compile)
        trainer.build_optimizers()
    check_checkpoint_space(run, chief, trainer)

    all_callbacks = run_callbacks(
        run, chief, generator, {"generator": g_opt, "discriminator": d_opt}, MONITOR, "min"
    )
    history = fit_run(trainer, run, strategy, recipe, train_batches, val_batches, cfg.epochs, steps,
                      all_callbacks, callbacks, verbose)
    return generator, history


def load_generator(run, weights=None):
    """The run's generator with its best (else last) weights, evaluating as the official code:
    instance statistics, no dropout."""
    recipe = run.load_recipe()
    generator = build_generator(recipe)
    generator.load_weights(str(weights or run.weights_for_eval()))
    use_instance_statistics(generator)
    return recipe, generator


def _save_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.clip(np.round((np.asarray(image) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    Image.fromarray(array).save(path)


def evaluate_run(run_dir, data_dir=None, weights=None, save_images=None, inception_weights=None, verbose=1):
    """L1 / PSNR / SSIM (and FID / KID with InceptionV3 weights) of every output; writes eval.json.

    Images are saved like the official code: `eval_images/fake0..fake{M}`
    (fake{M} is the ensemble), `input0..input{M-1}` and `real`, one PNG per sample.
    """
    run = RunDirectory(run_dir)
    recipe, generator = load_generator(run, weights)
    data, synthetic_dir = _data(recipe, data_dir)
    raw_val, count = raw_translation_dataset("validation", data, synthetic_dir)
    batches = translation_evaluation_dataset(raw_val, data, recipe.eval.batch_size)
    save = recipe.eval.save_images if save_images is None else save_images
    names = list(generator.modalities) + ["ensemble"]
    per_output = {name: {"l1": [], "psnr": [], "ssim": []} for name in names}
    images = {name: [] for name in names + ["real"]}
    infer = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)
    progress = keras.utils.Progbar(-(-count // recipe.eval.batch_size), verbose=verbose, unit_name="batch")
    index = 0
    for step, (inputs, target) in enumerate(batches):
        generated = infer(inputs)
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
                    _save_png(run.path / "eval_images" / f"fake{m}" / stem, generated[name][b])
                for m, name in enumerate(generator.modalities):
                    _save_png(run.path / "eval_images" / f"input{m}" / stem, inputs[name][b])
                _save_png(run.path / "eval_images" / "real" / stem, target[b])
        index += int(target.shape[0])
        progress.update(step + 1)
    scores = {
        name: {metric: float(np.mean(values)) for metric, values in per_output[name].items()}
        for name in names
    }
    weights_file = find_inception_weights(inception_weights or recipe.eval.inception_weights)
    if weights_file:
        features = InceptionFeatures(weights_file)
        real = features(np.concatenate(images["real"]))
        for name in names:
            fake = features(np.concatenate(images[name]))
            scores[name]["fid"] = frechet_distance(fake, real)
            scores[name]["kid"] = kernel_inception_distance(
                fake, real, recipe.eval.kid_subsets, recipe.eval.kid_subset_size
            )
    write_json(run.eval_file, {"samples": index, "inception_weights": weights_file, "scores": scores})
    return scores


def format_translation_table(scores):
    metrics = [m for m in ("l1", "psnr", "ssim", "fid", "kid") if m in next(iter(scores.values()))]
    lines = ["| output | " + " | ".join(m.upper() for m in metrics) + " |",
             "|---|" + "---|" * len(metrics)]
    for name, values in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[m]:.4f}" for m in metrics) + " |")
    return "\n".join(lines)


def translate_files(run_dir, inputs, out_path, weights=None):
    """Translate one set of input files (`{domain: path}`) with a trained run; writes `out_path`.

    Each file is decoded like the training data and resized to the recipe's
    crop size; the ensemble output is written as a PNG.
    """
    run = RunDirectory(run_dir)
    recipe, generator = load_generator(run, weights)
    expected = list(generator.modalities)
    missing = [d for d in expected if d not in inputs]
    unexpected = [d for d in inputs if d not in expected]
    if missing or unexpected:
        raise config_lib.ConfigError(
            f"this model translates {expected} -> {recipe.data.domains[-1]}; "
            f"missing inputs {missing}, unexpected {unexpected}."
        )
    size = recipe.data.crop_size
    batch = {}
    for domain in expected:
        image = decode_domain(inputs[domain], domain)
        resized = tf.image.resize(tf.cast(image, tf.float32) / 127.5 - 1.0, (size, size), antialias=True)
        batch[domain] = resized[None]
    generated = generator(batch, training=False)
    out_path = Path(out_path)
    _save_png(out_path, generated["ensemble"][0])
    return out_path
