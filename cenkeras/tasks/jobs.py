"""What every training job does the same way: starting a run, its callbacks, data paths."""

import contextlib
import copy
import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from cenkeras import config as config_lib
from cenkeras.training.callbacks import (
    BestAndLastWeights,
    CommitBest,
    GuardedBackupAndRestore,
    MetricsLog,
    NonFiniteLossGuard,
    SkippedSamplesLog,
    TrainingDiverged,
    backed_up_epoch,
    best_value_from_log,
)
from cenkeras.training.distribute import StepWatchdog, is_chief, make_strategy, stop_on_lost_worker
from cenkeras.training.precision import keras_policy, resolve_precision
from cenkeras.training.runs import RunDirectory


def start_run(recipe, run_dir, resume):
    """Validate, pick the strategy, create (or reopen) the run folder on the chief.

    Returns `(recipe, run, strategy, chief)`; the recipe is the run's own when resuming.
    With `train.deterministic`, TensorFlow's op determinism is switched on for
    the rest of the process: ops whose result depends on thread timing use
    deterministic kernels (or fail naming themselves where none exists).
    """
    config_lib.validate(recipe)
    train = recipe.train
    strategy = make_strategy(train.strategy, train.worker_timeout, train.start_timeout)
    chief = is_chief(strategy)
    run = RunDirectory(run_dir)
    if chief:
        recipe = run.create(recipe, resume=resume)
    if recipe.train.deterministic:
        tf.config.experimental.enable_op_determinism()
    return recipe, run, strategy, chief


def fit_run(trainer, run, strategy, recipe, batches, validation, epochs, steps, own_callbacks, callbacks, verbose):
    """`trainer.fit` for a run, with its failures turned into errors that say how to go on.

    A NaN/Inf loss raises `TrainingDiverged`; a lost worker of a
    multi-worker run raises `WorkerLost`, and so does a step that does not
    finish within `train.step_timeout` (`StepWatchdog`: a worker alive but
    stuck). Both name the epoch to resume from.
    """
    train = recipe.train
    watch = []
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and train.step_timeout > 0:
        watch = [StepWatchdog(train.step_timeout, max(train.first_step_timeout, train.step_timeout))]
    with stop_on_lost_worker(strategy, run, lambda: backed_up_epoch(str(run.backup))):
        history = trainer.fit(
            batches,
            epochs=epochs,
            steps_per_epoch=steps,
            validation_data=validation,
            validation_freq=recipe.train.val_every,
            callbacks=watch + own_callbacks + list(callbacks),
            verbose=verbose,
            shuffle=False,  # the pipeline orders the samples
        )
    raise_if_diverged(own_callbacks, run, recipe)
    return history


def first_step(run, steps_per_epoch):
    """The training step a run starts at: 0, or after the epochs its backup holds when resuming."""
    return backed_up_epoch(str(run.backup)) * steps_per_epoch


def run_callbacks(run, chief, model, optimizers, monitor, mode, schedule=None, skip_log=None, scorers=()):
    """Backup/resume, non-finite-loss stop, best/last weights, metrics log and TensorBoard for `run`.

    Every worker restores from the run's backup (the run directory must be
    shared between the machines of a multi-worker run); only the chief writes
    it or any other file. `fit_run` turns the guard's non-finite loss into a
    `TrainingDiverged` error. With a `skip_log` (data.on_error=skip), the
    problems of the samples left out go to the run's skipped.tsv. `scorers`
    add their scores to the epoch's logs before the best checkpoint is chosen.
    """
    guard = NonFiniteLossGuard()
    backup = GuardedBackupAndRestore(str(run.backup), guard, write=chief, delete_checkpoint=False)
    if chief:
        # Epochs logged after the last backup (a kill before it was written) are run again;
        # a best of such an epoch is dropped, one of a committed epoch put in place.
        committed = backed_up_epoch(str(run.backup))
        run.keep_metrics_until(committed)
        run.settle_pending_best(committed)
    callbacks = [guard]
    if schedule is not None:
        callbacks.append(schedule)
    callbacks += list(scorers)
    callbacks += [
        BestAndLastWeights(
            model,
            run,
            monitor,
            mode=mode,
            best_value=best_value_from_log(run.metrics_file, monitor, mode=mode),
            enabled=chief,
            guard=guard,
        ),
        MetricsLog(run.metrics_file, model, optimizers, log_dir=run.logs / "cen", enabled=chief, guard=guard),
        *([SkippedSamplesLog(run.skipped_file, skip_log, chief, run.logs / "cen")] if skip_log is not None else []),
        # The backup commits the epoch (see RunDirectory.keep_metrics_until); then its best is put in place.
        backup,
        CommitBest(run, enabled=chief, guard=guard),
    ]
    if chief:
        callbacks.append(keras.callbacks.TensorBoard(str(run.logs), write_graph=False))
    return callbacks


def check_checkpoint_space(run, chief, trainer):
    """Before training: room for the checkpoints of `trainer` (a built Keras model with optimizers).

    The backup holds the trainer's weights and optimizer state, plus a
    partial copy while it is replaced; last and best hold the network's
    weights, each with a partial copy while written: about 4x the trainer's
    variables in all.
    """
    if chief:
        size = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in trainer.variables)
        run.check_free_space(4 * size)


def raise_if_diverged(callbacks, run, recipe):
    """Raise `TrainingDiverged` naming the step if the run's guard saw a NaN/Inf loss."""
    guard = next(c for c in callbacks if isinstance(c, NonFiniteLossGuard))
    if not guard.failed:
        return
    failure = guard.failure
    kept = (
        f"the backup of epoch {failure['epoch'] - 1}" if failure["epoch"] > 1 else "no backup (no epoch had finished)"
    )
    rates = [f"--set train.{name}=..." for name in vars(recipe.train) if name.startswith("lr_")]
    raise TrainingDiverged(
        f"training stopped: the {failure['name']} was {failure['loss']} at epoch {failure['epoch']}, step "
        f"{failure['step']}. Nothing of that epoch was saved; {run.path} keeps {kept} and its "
        f"checkpoints. Resume with a smaller learning rate: cenkeras train --run-dir {run.path} "
        f"--resume {' '.join(rates)}"
    )


def with_data_root(recipe, data_dir):
    """A copy of `recipe` whose list dataset's `data.root` is `--data-dir` (absolute), so that the
    recipe a run records says where its data is (`cenkeras eval RUN` needs no --data-dir)."""
    if not data_dir or recipe.data.source != "list":
        return recipe
    recipe = copy.deepcopy(recipe)
    recipe.data.root = str(Path(os.path.expanduser(str(data_dir))).resolve())
    return recipe


def resolve_list_paths(data_config, data_dir=None):
    """A copy of the data config with `--data-dir` applied and list paths made absolute.

    For list datasets `data_dir` is the dataset root (relative list files are
    looked up there); for the synthetic scenes it is where they are prepared.
    """
    data = copy.deepcopy(data_config)
    if data.source == "list":
        if data_dir:
            data.root = str(data_dir)
        if not data.root:
            raise config_lib.ConfigError("data.root is not set: pass --data-dir DATASET_ROOT.")
        root = Path(os.path.expanduser(data.root))
        data.root = str(root)
        for key in ("train_list", "val_list"):
            value = getattr(data, key)
            if value and not os.path.isabs(os.path.expanduser(value)):
                setattr(data, key, str(root / value))
    return data


def dtype_policy(name):
    """Build models under the policy a recipe's precision names ("auto" resolved for this machine)."""
    return keras_policy(resolve_precision(name))


@contextlib.contextmanager
def model_scope(train_config, strategy):
    """Where a job builds its networks and optimizers: the recipe's precision, the strategy, and
    the random state reset to the recipe's seed.

    Seeding here, not earlier, keeps the initial weights independent of
    what ran before (preparing the synthetic data draws random numbers too).
    """
    with dtype_policy(train_config.precision), strategy.scope():
        keras.utils.set_random_seed(train_config.seed)
        yield
