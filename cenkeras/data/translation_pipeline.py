"""tf.data pipelines for translation: every domain decoded, jointly augmented, in [-1, 1].

Batches are `({input domain: (B, S, S, 3)}, target (B, S, S, 3))`, float32 in [-1, 1].
"""

import os

import numpy as np
import tensorflow as tf

from cenkeras.data.domains import decode_domain, expand_template
from cenkeras.data.indexed import IndexedSamples
from cenkeras.data.listfile import list_lines, resolve_path
from cenkeras.data.modalities import DataError
from cenkeras.data.pipeline import batched_training_order, shard_by_data
from cenkeras.data.skipping import guard_reader
from cenkeras.data.verify import SampleCheck, checks_of_list
from cenkeras.layers.preprocessing import ModalityPreprocessor


def parse_template(text, where, root, allow_outside_root=False):
    """The absolute path template of one Taskonomy list line; errors name `where`."""
    if "{domain}" not in text:
        raise DataError(f"{where}: {text!r} has no '{{domain}}' placeholder.")
    return resolve_path(root, text, where, allow_outside_root)


def read_domains(template, domains):
    """Every domain of one sample, decoded as training reads it (`decode_domain`)."""
    return tuple(decode_domain(expand_template(template, d), d) for d in domains)


def template_sample_checks(list_file, split, data_config):
    """`[SampleCheck | DataProblem]` of a Taskonomy list file: every domain of each sample decoded."""
    domains = list(data_config.domains)

    def make_check(text, where):
        template = parse_template(text, where, data_config.root, data_config.allow_outside_root)
        return SampleCheck(where, len(domains), lambda: read_domains(template, domains))

    return checks_of_list(list_file, data_config.root, split, make_check)


def read_template_list(list_file, root, domains, allow_outside_root=False):
    """Path templates from a Taskonomy list file, checked: every domain's file must exist."""
    templates = []
    for _, text, where in list_lines(list_file, root):
        template = parse_template(text, where, root, allow_outside_root)
        for domain in domains:
            path = expand_template(template, domain)
            if not os.path.isfile(path):
                raise DataError(f"{where}: {domain} file not found: {path}")
        templates.append(template)
    if not templates:
        raise DataError(f"list file {list_file} holds no samples.")
    return templates


def list_translation_dataset(list_file, data_config, skip_log=None):
    """Raw uint8 domain images `{domain: (H, W, 3)}` from a Taskonomy list file: `(IndexedSamples, count)`.

    With a `skip_log`, a sample that fails to decode is flagged instead of
    being an error (samples are then `(images, ok)`; `cenkeras.data.skipping`).
    With `data_config.cache`, a decoded sample is kept in memory after its first read.
    """
    domains = list(data_config.domains)
    templates = read_template_list(list_file, data_config.root, domains, data_config.allow_outside_root)

    decoded = {} if data_config.cache else None

    def read(template):
        if decoded is not None and template in decoded:
            return decoded[template]
        images = read_domains(template.decode("utf-8"), domains)
        if decoded is not None:
            decoded[template] = images
        return images

    types = [tf.uint8] * len(domains)
    if skip_log is not None:
        blank = np.zeros((1, 1, 3), np.uint8)
        read, types = guard_reader(read, lambda: [blank] * len(domains), skip_log), types + [tf.bool]

    def load(template):
        outputs = tf.numpy_function(read, [template], types, stateful=False)
        for image in outputs[: len(domains)]:
            image.set_shape([None, None, 3])
        images = dict(zip(domains, outputs))
        if skip_log is None:
            return images
        outputs[-1].set_shape([])
        return images, outputs[-1]

    return IndexedSamples(tf.constant(templates), load, flags_failures=skip_log is not None), len(templates)


def synthetic_translation_dataset(split, data_config, data_dir=None):
    from cenkeras.data.synthetic_translation import DOMAINS
    from cenkeras.data.synthetic_translation_tfds import load_synthetic_translation

    unknown = [d for d in data_config.domains if d not in DOMAINS]
    if unknown:
        raise DataError(f"the synthetic scenes provide domains {list(DOMAINS)}; unknown {unknown}.")
    examples = load_synthetic_translation(split, data_config.synthetic, data_dir)
    domains = list(data_config.domains)

    def decode(record):
        example = examples.decode(record)
        return {d: example[d] for d in domains}

    return IndexedSamples(examples.records, decode), len(examples)


def raw_translation_dataset(split, data_config, data_dir=None, skip_log=None):
    if data_config.source == "synthetic":
        return synthetic_translation_dataset(split, data_config, data_dir)
    list_file = data_config.train_list if split == "train" else data_config.val_list
    return list_translation_dataset(list_file, data_config, skip_log=skip_log)


def domain_preprocessor():
    """Every translation domain is decoded to 8 bits (`cenkeras.data.domains`), then mapped to [-1, 1]."""
    return ModalityPreprocessor("domain", name="domain_preprocessor")


def _split(images, domains):
    return {d: images[d] for d in domains[:-1]}, images[domains[-1]]


def translation_training_dataset(raw, data_config, batch_size, seed, first_step=0, modality_dropout=0.0):
    """Endless batches of `raw` (`IndexedSamples`): resize to `resize` (bilinear), one random
    `crop_size` crop and mirror for all domains.

    Order and augmentation depend only on the seed and the training position
    (`cenkeras.data.indexed`): from `first_step` on, the batches are those an
    uninterrupted run sees.
    """
    domains = list(data_config.domains)
    size, crop = data_config.resize, data_config.crop_size
    to_unit_range = domain_preprocessor()

    def prepare(images, sample_seed):
        crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(sample_seed, 2))
        stacked = tf.concat(
            [tf.image.resize(to_unit_range(images[d]), (size, size), antialias=True) for d in domains], -1
        )
        stacked = tf.image.stateless_random_crop(stacked, (crop, crop, 3 * len(domains)), crop_seed)
        if data_config.mirror:
            stacked = tf.image.stateless_random_flip_left_right(stacked, flip_seed)
        parts = tf.split(stacked, len(domains), axis=-1)
        return _split(dict(zip(domains, parts)), domains)

    # The drop patterns cover the input domains (all but the target).
    dropout = (len(data_config.domains) - 1, modality_dropout) if modality_dropout else None
    return batched_training_order(raw, prepare, batch_size, seed, first_step, dropout)


def translation_evaluation_dataset(raw, data_config, batch_size):
    """Every domain of `raw` (`IndexedSamples`) resized to `crop_size`, in order (no randomness)."""
    domains = list(data_config.domains)
    crop = data_config.crop_size
    to_unit_range = domain_preprocessor()

    def prepare(images):
        resized = {d: tf.image.resize(to_unit_range(images[d]), (crop, crop), antialias=True) for d in domains}
        return _split(resized, domains)

    dataset = raw.dataset()
    if data_config.cache:
        dataset = dataset.cache()
    dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    return shard_by_data(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))
