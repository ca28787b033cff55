"""tf.data pipelines for segmentation: raw samples -> normalised, augmented, batched inputs.

Both sources (list files in the official layout, and the embedded synthetic
scenes) first give *raw* samples `({name: raw (H, W, C) float32}, mask (H, W) int32)`;
the same code then normalises each modality, augments jointly (training),
batches and prefetches. Batches are `({name: (B, H, W, 3) float32}, (B, H, W) int32)`.
"""

import numpy as np
import tensorflow as tf
from PIL import Image

from cenkeras.data.augment import AugmentOptions, augment
from cenkeras.data.indexed import IndexedSamples
from cenkeras.data.listfile import check_files_exist, parse_line, read_list
from cenkeras.data.modality_dropout import with_modality_dropout
from cenkeras.data.modalities import (
    DataError,
    raw_channels,
    read_mask,
    read_raw,
)
from cenkeras.data.skipping import batch_leaving_out_skipped, guard_reader
from cenkeras.data.verify import SampleCheck, checks_of_list
from cenkeras.layers.preprocessing import ModalityPreprocessor

SYNTHETIC_MODALITIES = {"rgb": "rgb", "depth": "depth"}
# Where samples come from: the embedded generated scenes, or list files in the official layout.
DATA_SOURCES = ("synthetic", "list")
# A mask label >= num_classes that is not the ignore label: stop naming the file, or ignore it.
OUT_OF_RANGE_RULES = ("error", "ignore")
# Inputs whose size differs from their mask: centre crop (official NYUDv2), resize, or stop.
ALIGN_RULES = ("crop", "resize", "reject")


# --- Reading one sample (NumPy) --------------------------------------------------------------


def _centre_crop(array, height, width, path, mask_path):
    in_h, in_w = array.shape[:2]
    if in_h < height or in_w < width:
        raise DataError(
            f"{path} ({in_w}x{in_h}) is smaller than its mask {mask_path} ({width}x{height}); "
            "it cannot be centre-cropped to it (use data.align=resize)."
        )
    top, left = (in_h - height) // 2, (in_w - width) // 2
    return array[top : top + height, left : left + width]


def _resize_to(array, height, width, nearest):
    resample = Image.NEAREST if nearest else Image.BICUBIC
    channels = [
        np.asarray(Image.fromarray(array[..., c]).resize((width, height), resample)) for c in range(array.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def read_sample(paths, mask_path, modalities, num_classes, ignore_label, out_of_range, align):
    """Read and check one list-file sample; errors name the offending file.

    `modalities` is `{name: ModalityConfig}` in the order of `paths`. Returns
    the raw inputs (in that order) aligned to the mask, and the mask.
    """
    mask = read_mask(mask_path)
    bad = (mask >= num_classes) & (mask != ignore_label)
    if bad.any():
        if out_of_range == "error":
            values = sorted(int(v) for v in np.unique(mask[bad]))[:10]
            raise DataError(
                f"mask {mask_path} has labels {values} >= num_classes ({num_classes}) that are not the "
                f"ignore label {ignore_label} (set data.out_of_range=ignore to map them to it)."
            )
        mask = np.where(bad, ignore_label, mask).astype(np.uint8)
    height, width = mask.shape
    raws = []
    for path, (name, modality) in zip(paths, modalities.items()):
        kind = modality.kind
        raw = read_raw(path, kind, modality.channels, where=f"data.modalities.{name}")
        if raw.shape[:2] != (height, width):
            if align == "reject":
                raise DataError(
                    f"{path} is {raw.shape[1]}x{raw.shape[0]} but its mask {mask_path} is "
                    f"{width}x{height} (data.align=reject)."
                )
            if align == "crop":
                raw = _centre_crop(raw, height, width, path, mask_path)
            else:
                raw = _resize_to(raw, height, width, nearest=kind == "depth")
        raws.append(np.ascontiguousarray(raw, dtype=np.float32))
    return raws, mask.astype(np.int32)


# --- Raw datasets ----------------------------------------------------------------------------


def _columns(data_config):
    columns = {name: m.column for name, m in data_config.modalities.items()}
    columns["mask"] = data_config.mask_column
    return columns


def sample_reader(data_config, num_classes):
    """`read(paths) -> (raws, mask)` of one sample, `paths` being `{modality: path, "mask": path}`."""

    def read(paths):
        return read_sample(
            [paths[name] for name in data_config.modalities],
            paths["mask"],
            data_config.modalities,
            num_classes,
            data_config.ignore_label,
            data_config.out_of_range,
            data_config.align,
        )

    return read


def list_sample_checks(list_file, split, data_config, num_classes):
    """`[SampleCheck | DataProblem]` of a list file: each sample read as training reads it."""
    columns, read = _columns(data_config), sample_reader(data_config, num_classes)

    def make_check(text, where):
        paths = parse_line(text, where, data_config.root, columns, data_config.allow_outside_root)
        return SampleCheck(where, len(paths), lambda: read(paths))

    return checks_of_list(list_file, data_config.root, split, make_check)


def list_raw_dataset(list_file, data_config, num_classes, check_files=True, skip_log=None):
    """Raw samples from a list file in the official layout: `(IndexedSamples, count)`.

    Every listed file is checked to exist before anything is read (the first
    missing one is an error naming the list line and the path). Decoding runs
    in parallel; a corrupt image is an error naming the file, or with a
    `skip_log` (`cenkeras.data.skipping`) a sample flagged as bad: samples are
    then `((raw, mask), ok)`. With `data_config.cache`, a decoded sample is
    kept in memory after its first read.
    """
    names = list(data_config.modalities)
    columns = _columns(data_config)
    entries = read_list(list_file, data_config.root, columns, data_config.allow_outside_root)
    if check_files:
        check_files_exist(entries)
    kinds = [modality.kind for modality in data_config.modalities.values()]
    table = [[entry.paths[name] for name in columns] for entry in entries]
    read_paths = sample_reader(data_config, num_classes)
    decoded = {} if data_config.cache else None

    def read(row):
        key = tuple(row)
        if decoded is not None and key in decoded:
            return decoded[key]
        raws, mask = read_paths(dict(zip(columns, (p.decode("utf-8") for p in row))))
        if decoded is not None:
            decoded[key] = (*raws, mask)
        return (*raws, mask)

    def placeholder():
        blank = [np.zeros((1, 1, raw_channels(kind)), np.float32) for kind in kinds]
        return (*blank, np.full((1, 1), data_config.ignore_label, np.int32))

    types = [tf.float32] * len(names) + [tf.int32]
    if skip_log is not None:
        read, types = guard_reader(read, placeholder, skip_log), types + [tf.bool]

    def load(row):
        outputs = tf.numpy_function(read, [row], types, stateful=False)
        raw = {}
        for name, kind, tensor in zip(names, kinds, outputs):
            tensor.set_shape([None, None, raw_channels(kind)])
            raw[name] = tensor
        mask = outputs[len(names)]
        mask.set_shape([None, None])
        if skip_log is None:
            return raw, mask
        ok = outputs[-1]
        ok.set_shape([])
        return (raw, mask), ok

    return IndexedSamples(tf.constant(table), load, flags_failures=skip_log is not None), len(entries)


def synthetic_dataset_for(split, data_config, data_dir=None):
    """Raw samples of the synthetic scenes, restricted to the recipe's modalities: `(IndexedSamples, count)`."""
    from cenkeras.data.synthetic_tfds import synthetic_raw_samples

    for name, modality in data_config.modalities.items():
        if name not in SYNTHETIC_MODALITIES or modality.kind != SYNTHETIC_MODALITIES[name]:
            raise DataError(
                f"the synthetic scenes provide modalities {SYNTHETIC_MODALITIES}; "
                f"the recipe asks for {name!r} of kind {modality.kind!r}."
            )
    names = list(data_config.modalities)
    samples = synthetic_raw_samples(split, data_config.synthetic, data_dir)
    decode = samples.decode
    samples = IndexedSamples(samples.records, lambda record: _select(decode(record), names))
    return samples, len(samples)


def _select(sample, names):
    raw, mask = sample
    return {n: raw[n] for n in names}, mask


def raw_dataset(split, data_config, num_classes, data_dir=None, skip_log=None):
    """Raw samples of `split` ("train" or "validation") as `(IndexedSamples, count)`.

    With a `skip_log`, list samples that fail to decode are flagged, not errors
    (`cenkeras.data.skipping`); the synthetic scenes never fail.
    """
    if data_config.source == "synthetic":
        return synthetic_dataset_for(split, data_config, data_dir)
    list_file = data_config.train_list if split == "train" else data_config.val_list
    return list_raw_dataset(list_file, data_config, num_classes, skip_log=skip_log)


# --- Batched pipelines -------------------------------------------------------------------------


def shard_by_data(dataset):
    """Multi-worker training shards batches, not files: TFDS splits and list files are single files."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def depth_modalities(data_config):
    """Names of the depth inputs: resized with nearest neighbour, never interpolated."""
    return tuple(name for name, m in data_config.modalities.items() if m.kind == "depth")


def preprocessors(data_config):
    """`{name: ModalityPreprocessor}` of the recipe's modalities: what the network is fed."""
    return {
        name: ModalityPreprocessor.from_modality(m, name=f"{name}_preprocessor")
        for name, m in data_config.modalities.items()
    }


def _preprocess_all(raw, preprocessors):
    return {name: preprocessors[name](raw[name]) for name in raw}


def training_dataset(raw, data_config, batch_size, seed, first_step=0, modality_dropout=0.0):
    """Endless jointly augmented, batched, prefetched training batches of `raw` (`IndexedSamples`).

    The order and the augmentation are a function of the seed and of the
    position in training (`cenkeras.data.indexed`): starting at `first_step`
    gives the batches an uninterrupted run sees from that step on. With
    `modality_dropout` > 0 every batch carries the modalities it keeps
    (`cenkeras.data.modality_dropout`), as deterministic as the rest.
    """
    prepare_inputs = preprocessors(data_config)
    options = AugmentOptions(
        crop_size=data_config.crop_size,
        shorter_side=data_config.shorter_side,
        low_scale=data_config.low_scale,
        high_scale=data_config.high_scale,
        mirror=data_config.mirror,
        ignore_label=data_config.ignore_label,
    )
    nearest = depth_modalities(data_config)

    def prepare(sample, sample_seed):
        inputs, mask = sample
        inputs = _preprocess_all(inputs, prepare_inputs)
        return augment(inputs, mask, sample_seed, options, nearest_inputs=nearest)

    dropout = (len(data_config.modalities), modality_dropout) if modality_dropout else None
    return batched_training_order(raw, prepare, batch_size, seed, first_step, dropout)


def batched_training_order(raw, prepare, batch_size, seed, first_step, modality_dropout=None):
    """`prepare(sample, seed)` over `raw`'s training order from `first_step`, batched and prefetched.

    Samples flagged as failed (`raw.flags_failures`) are left out of their batch.
    `modality_dropout`, `(number of modalities, probability)`, adds each
    batch's drop pattern (`cenkeras.data.modality_dropout`).
    """
    samples = raw.training_order(seed, start=first_step * batch_size)
    if raw.flags_failures:
        flagged = samples.map(lambda pair, s: (prepare(pair[0], s), pair[1]), num_parallel_calls=tf.data.AUTOTUNE)
        batches = batch_leaving_out_skipped(flagged, batch_size)
    else:
        batches = samples.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size, drop_remainder=True)
    if modality_dropout is not None:
        batches = with_modality_dropout(batches, seed, first_step, *modality_dropout)
    return shard_by_data(batches.prefetch(tf.data.AUTOTUNE))


def evaluation_dataset(raw, data_config, batch_size=1, cache=None):
    """Normalised, unaugmented batches of `raw` (`IndexedSamples`) at full resolution, in order."""
    prepare_inputs = preprocessors(data_config)
    raw = raw.dataset()
    if data_config.cache if cache is None else cache:
        raw = raw.cache()
    dataset = raw.map(
        lambda inputs, mask: (_preprocess_all(inputs, prepare_inputs), mask),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return shard_by_data(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))
