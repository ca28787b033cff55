"""Training callbacks shared by the tasks: staged learning rates, checkpoints, metric logs."""

import json
import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cenkeras.training.runs import RunError, atomic_write_text


def stage_of(epoch, stage_epochs):
    """(stage index, first epoch of that stage) for a 0-based epoch."""
    start = 0
    for index, length in enumerate(stage_epochs):
        if epoch < start + length:
            return index, start
        start += length
    return len(stage_epochs) - 1, start - stage_epochs[-1]


class StagedLearningRates(keras.callbacks.Callback):
    """Learning rates per stage for several optimizers; momentum restarts at each stage.

    The official code trains in stages (e.g. 3 x 100 epochs) and creates new
    SGD optimizers at each stage, so momentum starts from zero again; this
    does the same with the existing optimizers.

    Args:
        optimizers: `{name: optimizer}`.
        stage_epochs: epochs of each stage.
        learning_rates: `{name: [lr per stage]}`.
        warmup_steps: the first steps of training ramp the rates up linearly
            (0: none, as the official code; helps training from scratch).
        step_counter: optimizer whose `iterations` counts the training steps.
    """

    def __init__(self, optimizers, stage_epochs, learning_rates, warmup_steps=0, step_counter=None):
        super().__init__()
        self.optimizers = optimizers
        self.stage_epochs = list(stage_epochs)
        self.learning_rates = learning_rates
        self.warmup_steps = int(warmup_steps)
        self.step_counter = step_counter or next(iter(optimizers.values()))
        self._rates = {}

    def on_epoch_begin(self, epoch, logs=None):
        stage, first = stage_of(epoch, self.stage_epochs)
        for name, optimizer in self.optimizers.items():
            self._rates[name] = float(self.learning_rates[name][stage])
            optimizer.learning_rate = self._rates[name]
            if epoch == first and stage > 0:
                for slot in getattr(optimizer, "momentums", []) or []:
                    slot.assign(tf.zeros_like(slot))

    def on_train_begin(self, logs=None):
        self._warming = self.warmup_steps > 0

    def on_train_batch_begin(self, batch, logs=None):
        # Reading the step counter syncs with the device: only during the warm-up.
        if not self._warming:
            return
        step = int(keras.ops.convert_to_numpy(self.step_counter.iterations))
        fraction = min((step + 1) / self.warmup_steps, 1.0)
        for name, optimizer in self.optimizers.items():
            optimizer.learning_rate = self._rates[name] * fraction
        self._warming = fraction < 1.0


def save_weights_atomically(model, path):
    """`model.save_weights(path)` through a temporary file and a rename: `path` is whole or as before.

    A failed write (disk full, permissions) removes the partial file and
    raises `RunError` naming the path; the previous file at `path` is intact.
    """
    partial = path.replace(".weights.h5", ".partial.weights.h5")
    try:
        model.save_weights(partial, overwrite=True)
        os.replace(partial, path)
    except OSError as error:
        if os.path.exists(partial):
            os.remove(partial)
        kept = "the previous one is intact" if os.path.exists(path) else "no earlier one exists"
        raise RunError(f"cannot write checkpoint {path}: {error.strerror or error}; {kept}.") from error


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training stopped with every checkpoint as before."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stop at the first batch whose loss is NaN or infinite, and remember where.

    Every loss the trainer logs is watched: `loss`, and any `*_loss` (the
    translation trainer logs `g_loss` and `d_loss`, and no `loss`). Unlike
    `keras.callbacks.TerminateOnNaN`, the failure is kept (`failure`:
    epoch, step, loss name and value) so that the saving callbacks given
    this guard skip the broken epoch's end: the backup, the last and best
    weights and the metrics log stay at the last good epoch, and the run
    resumes from there.
    """

    def __init__(self):
        super().__init__()
        self.failure = None
        self._epoch = 0

    @property
    def failed(self):
        return self.failure is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.failed or not logs:
            return
        watched = sorted(
            (name for name in logs if name == "loss" or name.endswith("_loss")), key=lambda name: name != "loss"
        )  # the total first, when there is one
        for name in watched:
            value = float(np.asarray(logs[name], dtype=np.float64).reshape(-1)[0])  # [1] under multi-worker
            if not math.isfinite(value):
                self.failure = {"epoch": self._epoch + 1, "step": batch + 1, "name": name, "loss": value}
                self.model.stop_training = True
                return


class GuardedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backups survive a kill at any point, and skip diverged epochs.

    Keras writes `latest.weights.h5` in place and the epoch counter after it,
    so a kill during the write leaves a broken file, and a kill between the
    two a counter that does not match the weights. Here every backup is a
    new `epoch-<N>.weights.h5` written under a temporary name and renamed;
    then `training_metadata.json` (epoch and weights file) is replaced
    atomically, and only then are older weight files removed. Whatever the
    moment of a kill, the metadata names a complete file of its own epoch.
    Nothing is saved at the end of an epoch in which `guard` saw a NaN/Inf loss.

    Every worker of a multi-worker run restores from the same `backup_dir`
    (so all resume at the same epoch with the same weights); only the one
    with `write=True` (the chief) saves.
    """

    def __init__(self, backup_dir, guard, write=True, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.guard = guard
        self.write = write

    def on_epoch_end(self, epoch, logs=None):
        if self.write and not self.guard.failed:
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch:05d}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        save_weights_atomically(self.model, path)
        record = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        atomic_write_text(self._training_metadata_path, json.dumps(record))
        for stale in os.listdir(self.backup_dir):  # superseded epochs, partial files of earlier kills
            if stale.endswith(".weights.h5") and stale != name:
                os.remove(os.path.join(self.backup_dir, stale))

    def _load_model(self):
        if not os.path.exists(self._training_metadata_path):
            return  # nothing backed up yet: start from the beginning
        with open(self._training_metadata_path) as file:
            record = json.load(file)
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        # Backups written by keras.callbacks.BackupAndRestore (older runs) name no file.
        self.model.load_weights(os.path.join(self.backup_dir, record.get("weights", "latest.weights.h5")))
        self.model._initial_epoch = record["epoch"]


def backed_up_epoch(backup_dir):
    """The number of finished epochs a backup holds (0 when there is none): where a resumed run starts."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as file:
        return int(json.load(file)["epoch"])


class BestAndLastWeights(keras.callbacks.Callback):
    """Save `model`'s weights after every epoch (last) and when `monitor` improves (best).

    Files are written under a temporary name and renamed, so a crash during a
    write leaves the previous file intact. An improved best goes to the run's
    pending best (`RunDirectory.best_pending`, with its epoch and value)
    and becomes best.weights.h5 only once the epoch's backup has committed
    (`CommitBest`): best.weights.h5 never holds an epoch that a resume would
    run again and drop from the log. The best value survives resuming (it is
    read back from the run's metrics log). Nothing is saved after a
    non-finite loss seen by `guard`.
    """

    def __init__(self, model_to_save, run, monitor, best_value=None, mode="max", enabled=True, guard=None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        self.model_to_save = model_to_save
        self.run = run
        self.last_path, self.best_path = str(run.last_weights), str(run.best_pending)
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.best_value = -np.inf if best_value is None else self.sign * float(best_value)
        self.enabled = enabled
        self.guard = guard

    def _save(self, path):
        save_weights_atomically(self.model_to_save, path)

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled or (self.guard is not None and self.guard.failed):
            return
        self._save(self.last_path)
        value = (logs or {}).get(self.monitor)
        if value is not None and self.sign * float(value) > self.best_value:
            self.best_value = self.sign * float(value)
            self._save(self.best_path)
            self.run.record_pending_best(epoch + 1, self.monitor, float(value))


class CommitBest(keras.callbacks.Callback):
    """After the epoch's backup has committed it: the pending best becomes best.weights.h5."""

    def __init__(self, run, enabled=True, guard=None):
        super().__init__()
        self.run, self.enabled, self.guard = run, enabled, guard

    def on_epoch_end(self, epoch, logs=None):
        if self.enabled and not (self.guard is not None and self.guard.failed):
            self.run.settle_pending_best(committed_epoch=epoch + 1)


class MetricsLog(keras.callbacks.Callback):
    """Add one JSON line per epoch to metrics.jsonl and write CEN scalars to TensorBoard.

    Besides Keras' logs (losses, metrics), each line holds the learning rates
    of `optimizers` ({name: optimizer}), softmax(alpha) of the CEN `model` and,
    per exchange layer and modality, the fraction of channels whose |gamma|
    is below the threshold. The share of all exchange channels below it goes
    into the epoch's logs as `under_threshold` (so the progress bar's epoch
    summary shows it, for both tasks), and TensorBoard gets a histogram of
    |gamma| per exchange layer and modality: whether the scales head for
    zero, or none ever gets near the threshold, is visible as it happens.
    """

    def __init__(self, path, model, optimizers, log_dir=None, enabled=True, guard=None):
        super().__init__()
        self.guard = guard
        self.path = str(path)
        self.model_ = model
        self.optimizers = optimizers
        self.enabled = enabled
        self.writer = tf.summary.create_file_writer(str(log_dir)) if (log_dir and enabled) else None
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def exchange_fractions(self):
        fractions = {}
        for layer_name, per_modality in self.model_.exchange_statistics().items():
            for modality, stats in zip(self.model_.modalities, per_modality):
                fractions[f"{layer_name}/{modality}"] = stats["below_threshold"] / stats["channels"]
        return fractions

    def under_threshold_share(self):
        """Channels below the threshold over all exchange layers and modalities (None without exchange)."""
        below = channels = 0
        for per_modality in self.model_.exchange_statistics().values():
            for stats in per_modality:
                below, channels = below + stats["below_threshold"], channels + stats["channels"]
        return below / channels if channels else None

    def on_epoch_end(self, epoch, logs=None):
        if not self.enabled or (self.guard is not None and self.guard.failed):
            return  # the diverged epoch is not logged: resuming runs it again
        share = self.under_threshold_share()
        if share is not None and logs is not None:
            logs["under_threshold"] = share  # before Keras' progress bar prints the epoch's logs
        record = {"epoch": epoch + 1, "seconds": round(time.time() - (self._start or time.time()), 3)}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        rates = {
            f"lr_{name}": float(keras.ops.convert_to_numpy(o.learning_rate)) for name, o in self.optimizers.items()
        }
        record.update(rates)
        weights = self.model_.ensemble_weights()
        if weights is not None:  # a concat ensemble has no alpha
            record["alpha"] = dict(zip(self.model_.modalities, (float(a) for a in weights)))
        fractions = self.exchange_fractions()
        record["below_threshold"] = fractions
        # Rewritten whole through a rename (not appended): a kill never leaves half a line.
        previous = Path(self.path).read_text(encoding="utf-8") if os.path.exists(self.path) else ""
        atomic_write_text(self.path, previous + json.dumps(record) + "\n")
        if self.writer is not None:
            with self.writer.as_default(step=epoch + 1):
                for key, value in rates.items():
                    tf.summary.scalar(f"learning_rate/{key[3:]}", value)
                for modality, value in record.get("alpha", {}).items():
                    tf.summary.scalar(f"alpha/{modality}", value)
                for key, value in fractions.items():
                    tf.summary.scalar(f"below_threshold/{key}", value)
                for layer in self.model_.exchange_layers():
                    for modality, norm in zip(self.model_.modalities, layer.norms):
                        tf.summary.histogram(f"abs_gamma/{layer.name}/{modality}", tf.abs(norm.gamma))
            self.writer.flush()


class SkippedSamplesLog(keras.callbacks.Callback):
    """Write the problems of training samples left out (data.on_error=skip) to the run's skipped.tsv.

    Each distinct problem (it names the file) is one `epoch<TAB>problem` line,
    the epoch being the one by whose end it was met, and the same text goes to
    TensorBoard (`skipped_samples`, under `log_dir`); the per-epoch count is
    the trainer's `skipped` metric. Problems already in the file (a resumed
    run) are not written again. At the end of training one line says how
    many there are and where: a skipped sample is never silent.
    """

    def __init__(self, path, skip_log, enabled=True, log_dir=None):
        super().__init__()
        self.path = Path(path)
        self.skip_log = skip_log
        self.enabled = enabled
        self.writer = tf.summary.create_file_writer(str(log_dir)) if (log_dir and enabled) else None

    def _lines(self):
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []

    def on_train_begin(self, logs=None):
        self.skip_log.mark_known(line.split("\t", 1)[-1] for line in self._lines())

    def on_epoch_end(self, epoch, logs=None):
        new = self.skip_log.take_new()
        if new and self.enabled:
            lines = self._lines() + [f"{epoch + 1}\t{problem}" for problem in new]
            atomic_write_text(self.path, "".join(line + "\n" for line in lines))
            if self.writer is not None:
                with self.writer.as_default(step=epoch + 1):
                    tf.summary.text("skipped_samples", "\n\n".join(new))
                self.writer.flush()

    def on_train_end(self, logs=None):
        count = len(self._lines())
        if count and self.enabled:
            print(f"{count} bad training sample(s) left out of their batches (data.on_error=skip): see {self.path}")


def best_value_from_log(path, monitor, mode="max"):
    """Best (largest, or smallest with mode="min") `monitor` value in a metrics.jsonl, None if none."""
    if not os.path.exists(path):
        return None
    values = []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                value = json.loads(line).get(monitor)
                if value is not None:
                    values.append(float(value))
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


def write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
