"""The synthetic multi-domain scenes as a tensorflow-datasets builder (prepared once, no download)."""

import numpy as np
import tensorflow_datasets as tfds

from cenkeras.data.synthetic_tfds import prepared_split
from cenkeras.data.synthetic_translation import DOMAINS, render_translation_scene

_VAL_SEED_OFFSET = 2_000_003


class SyntheticTranslation(tfds.core.GeneratorBasedBuilder):
    """Procedural scenes with shade, texture, depth, normal, edges and rgb (see synthetic_translation)."""

    # Bump with every change to the renderer: prepared copies are reused by version.
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}

    def __init__(self, *, size=64, num_train=200, num_val=24, seed=0, **kwargs):
        self._size, self._num_train, self._num_val, self._seed = int(size), int(num_train), int(num_val), int(seed)
        name = f"s{size}_train{num_train}_val{num_val}_seed{seed}"
        super().__init__(config=tfds.core.BuilderConfig(name=name), **kwargs)

    def _info(self):
        image = tfds.features.Image(shape=(self._size, self._size, 3), dtype=np.uint8)
        return self.dataset_info_from_configs(
            description="Procedurally rendered multi-domain scenes, generated locally.",
            features=tfds.features.FeaturesDict({domain: image for domain in DOMAINS}),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing to download
        first = self._seed * 7919
        return {
            "train": self._generate_examples(first, self._num_train),
            "validation": self._generate_examples(first + _VAL_SEED_OFFSET, self._num_val),
        }

    def _generate_examples(self, first_seed, count):
        for index in range(count):
            yield index, render_translation_scene(first_seed + index, self._size)


def load_synthetic_translation(split, config, data_dir=None):
    """The prepared split (`{domain: uint8 image}` examples), generated on first use."""
    return prepared_split(
        SyntheticTranslation,
        split,
        data_dir,
        size=config.size,
        num_train=config.num_train,
        num_val=config.num_val,
        seed=config.seed,
    )
