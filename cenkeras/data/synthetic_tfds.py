"""The synthetic RGB-D scenes as a tensorflow-datasets builder (prepared once, no download)."""

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cenkeras.data.indexed import IndexedSamples
from cenkeras.data.synthetic import CLASS_NAMES, render_scene

DEFAULT_DATA_DIR = os.path.join("~", ".cache", "cenkeras", "tensorflow_datasets")
# Where the scenes go without a --data-dir, instead of DEFAULT_DATA_DIR (a shared disk, a test's folder).
DATA_DIR_VARIABLE = "CENKERAS_DATA_DIR"
# Validation scenes draw their seeds from a separate range so the splits never share a scene.
_VAL_SEED_OFFSET = 1_000_003


class SyntheticRgbd(tfds.core.GeneratorBasedBuilder):
    """Procedural indoor RGB-D scenes with segmentation masks (see cenkeras.data.synthetic).

    Each configuration (image size, number of scenes, seed) is a builder
    config named after its values, so differently sized datasets live side
    by side in the same data directory and are generated only once.
    """

    # Bump with every change to the renderer: prepared copies are reused by version.
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}

    def __init__(self, *, height=96, width=128, num_train=240, num_val=60, seed=0, **kwargs):
        self._height, self._width = int(height), int(width)
        self._num_train, self._num_val, self._seed = int(num_train), int(num_val), int(seed)
        name = f"h{height}_w{width}_train{num_train}_val{num_val}_seed{seed}"
        super().__init__(config=tfds.core.BuilderConfig(name=name), **kwargs)

    def _info(self):
        shape = (self._height, self._width)
        return self.dataset_info_from_configs(
            description="Procedurally rendered RGB-D indoor scenes, generated locally.",
            features=tfds.features.FeaturesDict(
                {
                    "rgb": tfds.features.Image(shape=(*shape, 3), dtype=np.uint8),
                    "depth": tfds.features.Image(shape=(*shape, 1), dtype=np.uint16),
                    "mask": tfds.features.Image(shape=(*shape, 1), dtype=np.uint8),
                }
            ),
            supervised_keys=None,
            metadata=tfds.core.MetadataDict(class_names=list(CLASS_NAMES)),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        return {
            "train": self._generate_examples(self._seed * 7919, self._num_train),
            "validation": self._generate_examples(self._seed * 7919 + _VAL_SEED_OFFSET, self._num_val),
        }

    def _generate_examples(self, first_seed, count):
        for index in range(count):
            scene = render_scene(first_seed + index, self._height, self._width)
            yield (
                index,
                {
                    "rgb": scene["rgb"],
                    "depth": scene["depth"][..., None],
                    "mask": scene["mask"][..., None],
                },
            )


def load_synthetic(split, config, data_dir=None):
    """The prepared split as `IndexedSamples` of `{"rgb", "depth", "mask"}` examples.

    Generates the dataset on first use (a few seconds) under `data_dir`
    (default `$CENKERAS_DATA_DIR`, else `~/.cache/cenkeras/tensorflow_datasets`).
    """
    return prepared_split(
        SyntheticRgbd,
        split,
        data_dir,
        height=config.height,
        width=config.width,
        num_train=config.num_train,
        num_val=config.num_val,
        seed=config.seed,
    )


def prepared_split(builder_class, split, data_dir=None, **options):
    """One split of a locally generated builder as `IndexedSamples`, preparing it first if needed.

    The split's encoded examples (compressed PNGs) are held in memory and
    decoded when read, so training can read them in any order.
    """
    data_dir = str(Path(os.path.expanduser(data_dir or os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)))
    tfds.disable_progress_bar()
    builder = builder_class(data_dir=data_dir, **options)
    if not builder.is_prepared():
        # tensorflow-datasets would announce a download ("Downloading and preparing dataset Unknown
        # size ..."); nothing is downloaded: the scenes are drawn here, once.
        print(
            f"Generating the synthetic scenes ({builder.name}, {builder.builder_config.name}; nothing is "
            f"downloaded) into {builder.data_dir}; later runs reuse them. Delete that folder to generate "
            f"them again, or set {DATA_DIR_VARIABLE} to keep them elsewhere.",
            flush=True,
        )
        with contextlib.redirect_stdout(io.StringIO()):
            builder.download_and_prepare(download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    files = [str(path) for path in builder.info.splits[split].filepaths]
    records = list(tf.data.TFRecordDataset(files, buffer_size=1 << 20).as_numpy_iterator())
    return IndexedSamples(records, builder.info.features.deserialize_example)


def synthetic_raw_samples(split, config, data_dir=None):
    """Raw `(raw_inputs {rgb, depth}, mask)` samples in the form the pipelines expect."""
    examples = load_synthetic(split, config, data_dir)

    def to_raw(record):
        example = examples.decode(record)
        raw = {
            "rgb": tf.cast(example["rgb"], tf.float32),
            "depth": tf.cast(example["depth"], tf.float32),
        }
        return raw, tf.cast(example["mask"][..., 0], tf.int32)

    return IndexedSamples(examples.records, to_raw)
