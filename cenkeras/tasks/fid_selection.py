"""The official checkpoint choice for translation: FID of every output every few epochs, keep the best.

The official CEN translation code computes, every 5 epochs, the FID of
each output (every domain's branch and the ensemble) on the validation set,
and reports the best FID over outputs and epochs. `train.select_by=fid`
does the same in cenkeras: `FidValidation` adds `val_<output>_fid` and
`val_<output>_kid_x100` to the epoch's logs, and `val_best_fid` (the
smallest FID of any output that epoch), which picks best.weights.h5.
`train.select_by=auto` (the Taskonomy recipes') does so when the FID
network's file is at hand and selects by L1 otherwise, saying so.
"""

import keras
import numpy as np

from cenkeras.config import ConfigError
from cenkeras.metrics.fid import FidScorer, find_inception_weights, load_fid_network
from cenkeras.models.official_inference import generator_evaluation
from cenkeras.utils.inference import inference_function

BEST_FID = "val_best_fid"


def selects_by_fid(recipe):
    """Whether the run keeps its best checkpoint by FID: `select_by=fid`, or `auto` with the FID
    network's file at hand (`eval.inception_weights`, or a copy cached on disk)."""
    select_by = recipe.train.select_by
    return select_by == "fid" or (
        select_by == "auto" and find_inception_weights(recipe.eval.inception_weights) is not None
    )


def require_fid_weights(recipe):
    """The FID network's weights file the recipe's evaluation would use; `ConfigError` if there is none."""
    weights = find_inception_weights(recipe.eval.inception_weights)
    if weights is None:
        raise ConfigError(
            "train.select_by=fid needs the FID network's weights: set eval.inception_weights to "
            "pytorch-fid's pt_inception-2015-12-05-*.pth (the paper's; torch extra) or a Keras "
            "InceptionV3 no-top .h5, or use train.select_by=l1."
        )
    return weights


def fid_scorer_for(recipe, weights=None, preprocessing=None):
    """The `FidScorer` of the recipe's evaluation; `weights` / `preprocessing` replace its `eval` keys."""
    return FidScorer(
        load_fid_network(weights or require_fid_weights(recipe)),
        preprocessing or recipe.eval.fid_preprocessing,
        recipe.eval.kid_subsets,
        recipe.eval.kid_subset_size,
    )


class FidValidation(keras.callbacks.Callback):
    """Every `every` epochs: FID / KID×100 of each generator output on `validation`, into the epoch's logs.

    The generator runs as the evaluation runs it (`training=False`; the task
    has switched its norms to instance statistics; `generator_mode`, the
    recipe's `(eval.generator_mode, eval.dropout_seed)`, adds the official
    decoder dropout). It comes before the
    callbacks that keep the best checkpoint and log the epoch, which read
    what it adds.

    Examples:
        >>> callback = FidValidation(generator, validation_batches, fid_scorer_for(recipe), every=5)  # doctest: +SKIP
        >>> logs = {}; callback.on_epoch_end(4, logs); sorted(logs)  # doctest: +SKIP
        ['val_best_fid', 'val_ensemble_fid', 'val_ensemble_kid_x100', 'val_shade_fid', ...]
    """

    def __init__(self, generator, validation, scorer, every=5, verbose=1, generator_mode=("inference", 0)):
        super().__init__()
        self.generator = generator
        self.validation = validation
        self.scorer = scorer
        self.every = every
        self.verbose = verbose
        self.generator_mode = generator_mode
        self._real = None  # features of the validation targets: computed once
        # One function for the whole run: traced at the first scoring, not at each.
        self._infer = inference_function(generator)

    def _generate(self):
        outputs, targets = {}, []
        with generator_evaluation(self.generator, *self.generator_mode):
            for inputs, target in self.validation:
                for name, images in self._infer(inputs).items():
                    outputs.setdefault(name, []).append(images.numpy())
                targets.append(target.numpy())
        return {name: np.concatenate(images) for name, images in outputs.items()}, np.concatenate(targets)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every or logs is None:
            return
        outputs, targets = self._generate()
        if self._real is None:
            self._real = self.scorer.features(targets)
        fids = {}
        for name, images in outputs.items():
            scores = self.scorer.scores(self.scorer.features(images), self._real)
            fids[name] = logs[f"val_{name}_fid"] = scores["fid"]
            logs[f"val_{name}_kid_x100"] = scores["kid_x100"]
        logs[BEST_FID] = min(fids.values())
        if self.verbose:
            listing = ", ".join(f"{name} {value:.2f}" for name, value in fids.items())
            print(f"\nEpoch {epoch + 1}: FID ({self.scorer.description}): {listing}")
