"""The segmentation trainer: losses, two optimizers, metrics per output, evaluation."""

import keras
import numpy as np
import tensorflow as tf

from cenkeras.data.modality_dropout import pop_present_pattern
from cenkeras.data.skipping import pop_skipped_count
from cenkeras.layers.resize import resize_bicubic
from cenkeras.metrics import ConfusionMatrix
from cenkeras.models.base import AUXILIARY_PREFIX, RESERVED_OUTPUT, prediction_outputs
from cenkeras.tasks.logs import step_logs
from cenkeras.tasks.subset_training import LoneModels, SubsetModels, dense_gradients
from cenkeras.tasks.updates import updates_wait_for_gradients, with_weight_decay

# Parameters of these layers form the encoder group (official: names matching conv1|bn1|layer).
ENCODER_LAYER_PREFIXES = ("conv1", "bn1", "layer")


def split_encoder_decoder(segmenter):
    """Trainable variables of the encoder (stem + ResNet stages) and of the rest (decoder, alpha)."""
    encoder, decoder = [], []
    for layer in segmenter.layers:
        group = encoder if layer.name.startswith(ENCODER_LAYER_PREFIXES) else decoder
        group.extend(layer.trainable_variables)
    return encoder, decoder


def upsample_logits(logits, size, method="bilinear"):
    """Upsampling of logits to the label size: bilinear (half-pixel, PyTorch align_corners=False),
    or "bicubic" as the official evaluation's `cv2.resize(..., INTER_CUBIC)`."""
    if method == "bicubic":
        return resize_bicubic(logits, size)
    return tf.image.resize(tf.cast(logits, tf.float32), size, method="bilinear")


def cross_entropy_sum(labels, logits, num_classes, ignore_label):
    """Sum of pixel cross-entropies over valid pixels, and their count.

    Logits are upsampled to the label size first; pixels labelled
    `ignore_label` (or outside [0, num_classes)) do not count.
    """
    labels = tf.cast(labels, tf.int32)
    logits = upsample_logits(logits, tf.shape(labels)[1:3])
    valid = (labels >= 0) & (labels < num_classes) & (labels != ignore_label)
    safe = tf.where(valid, labels, 0)
    nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
    return tf.reduce_sum(tf.where(valid, nll, 0.0)), tf.reduce_sum(tf.cast(valid, tf.float32))


class SegmentationTrainer(keras.Model):
    """Trains a CEN segmenter the way the official code does.

    Loss = sum over every output (each modality and the ensemble) of the
    pixel cross-entropy after bilinear upsampling of the logits to the label
    size (mean over non-ignored pixels of the global batch) + the sparsity
    losses of the exchange layers. A segmenter with auxiliary outputs
    (`CENPSPNet`'s `"auxiliary.<modality>"`) adds their cross-entropies times
    its `auxiliary_weight`, logged as `auxiliary_loss`. Encoder and decoder parameters have their
    own optimizer (learning rates differ); weight decay is added to the
    gradients as PyTorch's SGD does (L2, coupled with momentum).

    Under tf.distribute each replica contributes its share of the global
    mean, so the update equals the single-device update for the same global
    batch.

    Args:
        segmenter: a `CENRefineNet` (or any model with the same outputs).
        encoder_optimizer, decoder_optimizer: Keras optimizers.
        num_classes: number of classes.
        ignore_label: label excluded from losses and metrics.
        weight_decay: L2 coefficient added to every gradient.
        count_skipped: log the `skipped` metric: training samples left out of
            their batch (`cenkeras.data.skipping`).
        modality_dropout: train on the modalities each batch keeps
            (`cenkeras.data.modality_dropout`): a batch carrying a drop
            pattern runs the segmenter's subset model of its present
            modalities (the absent streams are not computed), and the
            absent modalities' outputs add no loss.
        upsampling: how validation upsamples the logits before the argmax
            ("bilinear", or "bicubic" as the official validation; the loss
            is always bilinear).
        lone_weight: every step also runs each modality alone on the same
            batch (its subset model) and adds `lone_weight` times that
            output's cross-entropy, logged as `lone_loss` (0: no such passes).
            The full set trains every step as without it. A `{modality: weight}`
            mapping weighs each modality's pass on its own (0: none).
        lone_distillation: with `lone_weight`, adds this weight times the
            mean per-pixel KL divergence from the full set's ensemble
            (held fixed) to each lone output, at the logits' resolution,
            logged as `distillation`.

    Examples:
        >>> from cenkeras.models import build_refinenet, tiny_options
        >>> model = build_refinenet(50, 4, ["rgb", "depth"], **tiny_options())
        >>> trainer = SegmentationTrainer(model, keras.optimizers.SGD(5e-4, momentum=0.9),
        ...                               keras.optimizers.SGD(3e-3, momentum=0.9), num_classes=4)
        >>> trainer.compile(optimizer=trainer.encoder_optimizer)
        >>> images = {"rgb": np.zeros((2, 32, 32, 3), "float32"), "depth": np.ones((2, 32, 32, 3), "float32")}
        >>> batches = tf.data.Dataset.from_tensors((images, np.zeros((2, 32, 32), "int32")))
        >>> history = trainer.fit(batches, epochs=1, verbose=0, shuffle=False)
        >>> sorted(history.history)
        ['depth_loss', 'ensemble_loss', 'loss', 'rgb_loss', 'sparsity']
    """

    def __init__(
        self,
        segmenter,
        encoder_optimizer,
        decoder_optimizer,
        num_classes,
        ignore_label=255,
        weight_decay=0.0,
        count_skipped=False,
        modality_dropout=False,
        upsampling="bilinear",
        lone_weight=0.0,
        lone_distillation=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.segmenter = segmenter
        self.upsampling = upsampling  # of the validation logits, as evaluation's (`eval.upsampling`)
        self.subset_forwards = SubsetForwards(segmenter) if modality_dropout else None
        self.lone_distillation = float(lone_distillation)
        # Each modality's subset model (sharing the segmenter's layers), for the lone passes.
        self.lone_models = LoneModels(segmenter, lone_weight)
        self.encoder_optimizer = encoder_optimizer
        self.decoder_optimizer = decoder_optimizer
        self.num_classes = int(num_classes)
        self.ignore_label = int(ignore_label)
        self.weight_decay = float(weight_decay)
        self.output_names_ = prediction_outputs(segmenter)
        self.auxiliary_weight = float(getattr(segmenter, "auxiliary_weight", 0.0))
        self.auxiliary_names = [AUXILIARY_PREFIX + m for m in segmenter.modalities] if self.auxiliary_weight else []
        self.encoder_variables, self.decoder_variables = split_encoder_decoder(segmenter)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.sparsity_tracker = keras.metrics.Mean(name="sparsity")
        self.output_loss_trackers = [keras.metrics.Mean(name=f"{n}_loss") for n in self.output_names_]
        self.auxiliary_trackers = [keras.metrics.Mean(name="auxiliary_loss")] if self.auxiliary_names else []
        self.confusions = [
            ConfusionMatrix(self.num_classes, self.ignore_label, name=f"{n}_miou") for n in self.output_names_
        ]
        # Training samples left out of their batch (data.on_error=skip), per epoch.
        self.skipped = [keras.metrics.Sum(name="skipped")] if count_skipped else []
        self.lone_trackers = [keras.metrics.Mean(name="lone_loss")] if self.lone_models.models else []
        if self.lone_distillation:
            self.lone_trackers.append(keras.metrics.Mean(name="distillation"))
        # The wrapped segmenter is a built functional model, so this one is built too.
        self.built = True

    def build_optimizers(self):
        """Create the optimizer slots now (needed before restoring a backup)."""
        self.encoder_optimizer.build(self.encoder_variables)
        self.decoder_optimizer.build(self.decoder_variables)

    def call(self, inputs, training=False):
        return self.segmenter(inputs, training=training)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras (3.15) reduces one input batch across replicas here to build compiled losses
        # and metrics; MultiWorkerMirroredStrategy cannot reduce a dict of images and fails.
        # Nothing needs that build: the segmenter and both optimizers are built already, and
        # the losses and metrics are this class's own.
        return

    @property
    def metrics(self):
        return [
            self.loss_tracker,
            self.sparsity_tracker,
            *self.output_loss_trackers,
            *self.auxiliary_trackers,
            *self.lone_trackers,
            *self.confusions,
            *self.skipped,
        ]

    def _loss_terms(self, labels, outputs, present=None):
        """Per-output cross-entropy shares of this replica, the weighted auxiliary share (0 without
        auxiliary outputs), and the sparsity share. `present` (one 0/1 flag per output, main then
        auxiliary) leaves the absent modalities' outputs out."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        sums, count = [], None
        for name in self.output_names_ + self.auxiliary_names:
            total, valid = cross_entropy_sum(labels, outputs[name], self.num_classes, self.ignore_label)
            sums.append(total)
            count = valid if count is None else count
        context = tf.distribute.get_replica_context()
        if replicas > 1 and context is not None:
            count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
        shares = [total / tf.maximum(count, 1.0) for total in sums]
        if present is not None:
            shares = [share * present[i] for i, share in enumerate(shares)]
        shares, auxiliary = shares[: len(self.output_names_)], shares[len(self.output_names_) :]
        auxiliary = self.auxiliary_weight * tf.add_n(auxiliary) if auxiliary else tf.constant(0.0)
        regularization = self.segmenter.losses
        sparsity = tf.add_n([tf.cast(v, tf.float32) for v in regularization]) if regularization else 0.0
        return shares, auxiliary, tf.cast(sparsity, tf.float32) / replicas, replicas

    def train_step(self, data):
        inputs, labels = data
        inputs = pop_skipped_count(inputs, self.skipped[0] if self.skipped else None)
        inputs, pattern = pop_present_pattern(inputs)
        variables = self.encoder_variables + self.decoder_variables
        with tf.GradientTape() as tape:
            if pattern is None or self.subset_forwards is None:
                outputs, present = self.segmenter(inputs, training=True), None
            else:
                outputs, present = self.subset_forwards(inputs, pattern, self.output_names_ + self.auxiliary_names)
            shares, auxiliary_share, sparsity_share, replicas = self._loss_terms(labels, outputs, present)
            loss = tf.add_n(shares) + auxiliary_share + sparsity_share
            lone_terms = self._lone_terms(inputs, labels, outputs) if self.lone_models.models else []
            for term in lone_terms:
                loss += term
        # The absent streams' own variables (their norms) get no gradient in a step without them
        # (weight decay still applies to them, as to every weight).
        gradients = dense_gradients(tape.gradient(loss, variables), variables)
        if self.weight_decay:
            decay = self.weight_decay / replicas
            gradients = with_weight_decay(gradients, variables, decay)
        split = len(self.encoder_variables)
        # Each update waits for its gradient: SGD's momentum products would otherwise all be
        # computed at the start of the step and held through forward and backward.
        with updates_wait_for_gradients(self.encoder_optimizer), updates_wait_for_gradients(self.decoder_optimizer):
            self.encoder_optimizer.apply(gradients[:split], self.encoder_variables)
            self.decoder_optimizer.apply(gradients[split:], self.decoder_variables)

        self.loss_tracker.update_state(loss * replicas)
        self.sparsity_tracker.update_state(sparsity_share * replicas)
        for i, (tracker, share) in enumerate(zip(self.output_loss_trackers, shares)):
            # An output absent from the step is not averaged in as a zero.
            tracker.update_state(share * replicas, sample_weight=1.0 if present is None else present[i])
        for tracker in self.auxiliary_trackers:
            tracker.update_state(auxiliary_share * replicas)
        for tracker, term in zip(self.lone_trackers, lone_terms):
            tracker.update_state(term * replicas)
        losses = [*self.output_loss_trackers, *self.auxiliary_trackers, *self.lone_trackers]
        return step_logs([self.loss_tracker, self.sparsity_tracker, *losses, *self.skipped])

    def _lone_terms(self, inputs, labels, outputs):
        """This replica's weighted lone cross-entropy (summed over the modalities) and, with
        `lone_distillation`, the weighted distillation term: each modality run alone on the batch."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        teacher = tf.stop_gradient(tf.nn.log_softmax(tf.cast(outputs["ensemble"], tf.float32), axis=-1))
        totals, divergence = [], []
        for model, weight in zip(self.lone_models.models, self.lone_models.weights):
            name = model.modalities[0]
            # With one branch present the ensemble is that branch, detached: the branch's loss is the one.
            logits = model({name: inputs[name]}, training=True)[name]
            total, valid = cross_entropy_sum(labels, logits, self.num_classes, self.ignore_label)
            totals.append(weight * total)
            if self.lone_distillation:
                student = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
                kl = tf.reduce_sum(tf.exp(teacher) * (teacher - student), axis=-1)
                # The global batch's mean: each replica its share.
                divergence.append(tf.reduce_mean(kl) / replicas)
        # Every lone output has the same valid pixels: their global count is reduced once.
        context = tf.distribute.get_replica_context()
        if replicas > 1 and context is not None:
            valid = context.all_reduce(tf.distribute.ReduceOp.SUM, valid)
        terms = [tf.add_n(totals) / tf.maximum(valid, 1.0)]
        if self.lone_distillation:
            terms.append(self.lone_distillation * tf.add_n(divergence))
        return terms

    def test_step(self, data):
        inputs, labels = data
        outputs = self.segmenter(inputs, training=False)
        shares, auxiliary_share, sparsity_share, replicas = self._loss_terms(labels, outputs)
        self.loss_tracker.update_state((tf.add_n(shares) + auxiliary_share + sparsity_share) * replicas)
        self.sparsity_tracker.update_state(sparsity_share * replicas)
        size = tf.shape(labels)[1:3]
        for name, tracker, share, confusion in zip(
            self.output_names_, self.output_loss_trackers, shares, self.confusions
        ):
            tracker.update_state(share * replicas)
            predicted = tf.argmax(upsample_logits(outputs[name], size, self.upsampling), axis=-1)
            confusion.update_state(labels, predicted)
        return step_logs([self.loss_tracker, self.sparsity_tracker, *self.output_loss_trackers, *self.confusions])


class SubsetForwards:
    """The segmenter's forward pass for each drop pattern of modality dropout, picked in the graph.

    Holds one model per drop pattern (`SubsetModels`): the segmenter and
    its subset models, which share its layers.
    """

    def __init__(self, segmenter):
        self.models = [model for _, model in SubsetModels(segmenter).entries]

    def __call__(self, inputs, pattern, names):
        """`({name: logits}, (len(names),) 0/1 presence flags)` for the bitmask `pattern`.

        An absent modality's outputs are zeros (their flag 0), so that every
        branch of the `tf.switch_case` returns the same structure.
        """

        def branch(model):
            def run():
                outputs = model({m: inputs[m] for m in model.modalities}, training=True)
                filler = tf.zeros_like(outputs[RESERVED_OUTPUT])
                return [outputs.get(name, filler) for name in names]

            return run

        logits = tf.switch_case(pattern - 1, [branch(model) for model in self.models])
        flags = [[1.0 if name in model.output else 0.0 for name in names] for model in self.models]
        present = tf.gather(tf.constant(flags, tf.float32), pattern - 1)
        return dict(zip(names, logits)), present


def predict_probabilities(segmenter, inputs, size, scales=(1.0,), flip=False, depth_inputs=(), upsampling="bilinear"):
    """Class probabilities at `size`, averaged over input scales (and horizontal flips).

    Images are resized bilinearly per scale (nearest for `depth_inputs`), the
    logits of every output are upsampled to `size` (`upsampling`: "bilinear"
    or "bicubic") and turned into softmax probabilities, and those are
    averaged: the multi-scale (+ flip) protocols of the paper's and PSPNet's
    multi-scale figures. Returns `{output: (B, H, W, C)}`.
    """
    # A subset model (a missing modality) reads only its own inputs out of the dataset's.
    inputs = {name: inputs[name] for name in segmenter.modalities}
    height, width = tf.shape(next(iter(inputs.values())))[1], tf.shape(next(iter(inputs.values())))[2]
    total = None
    views = 0
    for scale in scales:
        scaled_size = tf.cast(tf.round(tf.cast(tf.stack([height, width]), tf.float32) * float(scale)), tf.int32)
        scaled = {
            name: tf.image.resize(x, scaled_size, method="nearest" if name in depth_inputs else "bilinear")
            for name, x in inputs.items()
        }
        for mirrored in (False, True) if flip else (False,):
            view = {n: tf.reverse(x, [2]) for n, x in scaled.items()} if mirrored else scaled
            outputs = segmenter(view, training=False)
            probabilities = {}
            for name in prediction_outputs(segmenter):
                probs = tf.nn.softmax(upsample_logits(outputs[name], size, upsampling), axis=-1)
                probabilities[name] = tf.reverse(probs, [2]) if mirrored else probs
            total = probabilities if total is None else {n: total[n] + probabilities[n] for n in total}
            views += 1
    return {name: value / views for name, value in total.items()}


def evaluate_segmenter(
    segmenter,
    dataset,
    num_classes,
    ignore_label=255,
    scales=(1.0,),
    flip=False,
    depth_inputs=(),
    steps=None,
    verbose=1,
    upsampling="bilinear",
):
    """Confusion-matrix scores of every output over `dataset` (batches of (inputs, labels)).

    The options are `predict_probabilities`'.

    Returns `{output: {"pixel_accuracy", "mean_accuracy", "mean_iou", "class_iou"}}`.
    """
    names = prediction_outputs(segmenter)
    confusions = {name: ConfusionMatrix(num_classes, ignore_label) for name in names}

    @tf.function(reduce_retracing=True)
    def step(inputs, labels):
        probabilities = predict_probabilities(
            segmenter, inputs, tf.shape(labels)[1:3], scales, flip, depth_inputs, upsampling
        )
        return {name: tf.argmax(p, axis=-1) for name, p in probabilities.items()}

    progress = keras.utils.Progbar(steps, verbose=verbose, unit_name="batch")
    for index, (inputs, labels) in enumerate(dataset):
        predictions = step(inputs, labels)
        for name in names:
            confusions[name].update_state(labels, predictions[name])
        progress.update(index + 1, [("ensemble_miou", float(confusions["ensemble"].result()))])
    return {name: confusion.scores() for name, confusion in confusions.items()}


def format_scores_table(scores):
    """A Markdown table of pixel acc / mean acc / mIoU (percent) per output."""
    lines = ["| output | pixel acc | mean acc | mIoU |", "|---|---|---|---|"]
    for name, s in scores.items():
        lines.append(
            f"| {name} | {100 * s['pixel_accuracy']:.2f} | {100 * s['mean_accuracy']:.2f} | {100 * s['mean_iou']:.2f} |"
        )
    return "\n".join(lines)


def class_iou_table(scores, class_names=None):
    """Per-class IoU (percent) per output, one row per class."""
    outputs = list(scores)
    count = len(next(iter(scores.values()))["class_iou"])
    class_names = class_names or [str(i) for i in range(count)]
    lines = ["| class | " + " | ".join(outputs) + " |", "|---|" + "---|" * len(outputs)]
    for index in range(count):
        values = [scores[o]["class_iou"][index] for o in outputs]
        cells = ["-" if np.isnan(v) else f"{100 * v:.1f}" for v in values]
        lines.append(f"| {class_names[index]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
