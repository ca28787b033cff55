"""`Task`: what every kind of experiment provides, behind one interface.

The CLI, `reproduce`, `export` and `import-torch` see only this interface
(`cenkeras.tasks.get_task(recipe.task)`); a task subclass fills in what
differs: its recipe schema, networks, data, trainer, evaluation, tables and
serving module. A new task is a new module with a `Task` subclass and one
line in `cenkeras.tasks.registry.TASKS`.
"""

import dataclasses

from cenkeras import config as config_lib
from cenkeras.data.modalities import DataError
from cenkeras.data.skipping import SkipLog
from cenkeras.data.verify import check_samples
from cenkeras.training.runs import RunDirectory, atomic_write_text
from cenkeras.tasks.jobs import (
    check_checkpoint_space,
    first_step,
    fit_run,
    model_scope,
    resolve_list_paths,
    run_callbacks,
    start_run,
    with_data_root,
)

# What `data.verify=decode` found, in the run directory, when it stops a run.
DATA_CHECK_FILE = "data-check.txt"


@dataclasses.dataclass
class TrainingData:
    """The batches of a run: training (from its first step), validation, and steps per epoch."""

    train: object
    validation: object
    steps_per_epoch: int
    # The problems of training samples left out (data.on_error=skip), else None.
    skip_log: object = None


def skips(data):
    """Whether training leaves out samples that fail to decode (data.on_error=skip on a list dataset)."""
    return data.source == "list" and data.on_error == "skip"


def skip_log_for(data):
    """A `SkipLog` for the training samples of `data` when it skips bad ones, else None."""
    return SkipLog() if skips(data) else None


@dataclasses.dataclass
class Fitting:
    """A compiled trainer, its optimizers by name (logged, backed up) and an optional LR schedule."""

    trainer: object
    optimizers: dict
    schedule: object = None


class Task:
    """One kind of experiment: segmentation, translation, ...

    Subclasses set the class attributes and implement the methods that
    raise NotImplementedError. Methods that take a run directory read its
    recipe, so a run alone says how to evaluate, export or serve it.

    Attributes:
        name: the recipe's `task` value, and the registry key.
        recipe_class: the recipe dataclass (its `validate()` checks it).
        monitor, monitor_mode: the validation metric that picks the best checkpoint.
        evaluation_options: keyword options `evaluate` takes beyond the common ones.
        table_metrics: `(score key, column label)` of the comparison tables.
        percent_scores: whether table scores print as percentages.
    """

    name = None
    recipe_class = None
    monitor = None
    monitor_mode = "max"
    evaluation_options = ()
    table_metrics = ()
    percent_scores = False

    # --- What a task provides ------------------------------------------------------------------

    def build_network(self, recipe):
        """The network a recipe describes (a `cenkeras.models.MultimodalModel`), untrained."""
        raise NotImplementedError

    def training_data(self, recipe, data, data_dir, run):
        """`TrainingData` for `recipe`, with `data` (its data section, paths resolved)."""
        raise NotImplementedError

    def build_trainer(self, recipe, network):
        """A compiled `Fitting` (called inside the run's precision, strategy and seed scope)."""
        raise NotImplementedError

    def total_epochs(self, recipe):
        return recipe.train.epochs

    def prepare_network(self, network, recipe, verbose):
        """Initialise `network` before a new run trains it (e.g. pretrained weights); nothing by default."""

    def sample_checks(self, recipe, data):
        """`{split: [SampleCheck | DataProblem]}`: every listed sample of `data` read as training reads it."""
        raise NotImplementedError

    def selection(self, recipe):
        """`(metric, mode)` that picks the best checkpoint: the task's `monitor` by default."""
        return self.monitor, self.monitor_mode

    def epoch_scorers(self, recipe, network, validation, verbose):
        """Callbacks that add validation scores to the epoch's logs before the best checkpoint is chosen."""
        return []

    def check_new_run(self, recipe):
        """Refuse, before anything is written or built, a recipe that cannot give a sensible new run.

        Raises `ConfigError` saying why and how to fix it; nothing to check by default.
        """

    def evaluate(self, run_dir, data_dir=None, weights=None, verbose=1, **options):
        """Score a run's best (else last) weights on its validation data, write eval.json, return
        `{output: {metric: value}}`."""
        raise NotImplementedError

    def summary(self, recipe):
        """`{label: value}` a user checks before a long run (printed by `cenkeras train`)."""
        raise NotImplementedError

    def format_results(self, recipe, scores):
        """The scores `evaluate` returned, as the text `cenkeras train` / `eval` print."""
        raise NotImplementedError

    def protocol(self, recipe, evaluation):
        """`{item: value}`: how a run's figure was made (data, schedule, evaluation, checkpoint),
        from its recipe and its eval.json, for the protocol line under a reproduced table."""
        raise NotImplementedError

    def serving_module(self, network, recipe):
        """A `tf.Module` with `serve` (raw images in) and `metadata` signatures, for export."""
        raise NotImplementedError

    def chart_metric(self, available):
        """The metric of a comparison table's bar chart, given the metrics the rows have."""
        return self.table_metrics[0][0]

    # --- The same for every task ---------------------------------------------------------------

    def load_network(self, run, weights=None):
        """`(recipe, network)` of a run with the given weights (default its best, else last)."""
        recipe = run.load_recipe()
        network = self.build_network(recipe)
        network.load_weights(str(weights or run.weights_for_eval()))
        return recipe, network

    @staticmethod
    def network_subset(network, modalities):
        """`network` run from `modalities` only (`MultimodalModel.subset`), for evaluation: an
        unknown modality or a network that needs them all is a ConfigError naming `--modalities`."""
        try:
            return network.subset(modalities)
        except ValueError as error:
            raise config_lib.ConfigError(f"--modalities: {error}") from None

    def check_evaluation_options(self, options):
        """Refuse evaluation options this task does not have, naming them."""
        unknown = sorted(
            key for key, value in options.items() if value is not None and key not in self.evaluation_options
        )
        if unknown:
            raise config_lib.ConfigError(
                f"{self.name} runs take no evaluation option {unknown} "
                f"(theirs: {list(self.evaluation_options) or 'none'})."
            )

    def train(self, recipe, run_dir, data_dir=None, resume=False, verbose=1, callbacks=()):
        """Train the recipe's network into `run_dir`; returns `(network, history)`.

        `resume=True` continues an interrupted (or finished, with more epochs)
        run from its backup. Checkpoints, logs and the recipe are written by the
        chief worker only. Extra Keras `callbacks` run after cenkeras' own.
        """
        if not resume:
            recipe = with_data_root(recipe, data_dir)
            config_lib.validate(recipe)
            self.check_new_run(recipe)
        if recipe.data.source == "list" and recipe.data.verify == "decode":
            self.verify_data(recipe, resolve_list_paths(recipe.data, data_dir), RunDirectory(run_dir), verbose)
        recipe, run, strategy, chief = start_run(recipe, run_dir, resume)
        data = resolve_list_paths(recipe.data, data_dir)
        batches = self.training_data(recipe, data, data_dir, run)
        with model_scope(recipe.train, strategy):
            network = self.build_network(recipe)
            if not resume:
                self.prepare_network(network, recipe, verbose)
            fitting = self.build_trainer(recipe, network)
        check_checkpoint_space(run, chief, fitting.trainer)
        own_callbacks = run_callbacks(
            run,
            chief,
            network,
            fitting.optimizers,
            *self.selection(recipe),
            schedule=fitting.schedule,
            skip_log=batches.skip_log,
            scorers=self.epoch_scorers(recipe, network, batches.validation, verbose),
        )
        history = fit_run(
            fitting.trainer,
            run,
            strategy,
            recipe,
            batches.train,
            batches.validation,
            self.total_epochs(recipe),
            batches.steps_per_epoch,
            own_callbacks,
            callbacks,
            verbose,
        )
        return network, history

    def check_data(self, recipe, data_dir=None, workers=None, quiet=False):
        """Decode every listed file of every split as training would; a `DataReport` (None: synthetic data).

        The synthetic scenes are generated by cenkeras itself: nothing to check.
        """
        data = resolve_list_paths(recipe.data, data_dir)
        if data.source != "list":
            return None
        return check_samples(self.sample_checks(recipe, data), workers=workers, quiet=quiet)

    def verify_data(self, recipe, data, run, verbose):
        """`data.verify=decode`: the `check_data` pass, before the run folder is set up.

        Problems stop the run before anything of it is written (the same
        command works again once the data is fixed); all of them are listed
        in the run folder's data-check.txt.
        """
        report = check_samples(self.sample_checks(recipe, data), quiet=not verbose)
        if verbose:
            print(report.summary())
        listing = run.path / DATA_CHECK_FILE
        if report.ok:
            listing.unlink(missing_ok=True)  # a listing from an earlier attempt is out of date
            return
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(listing, report.text())
        raise DataError(
            f"{len(report.problems)} problem(s) in the data (data.verify=decode), all listed in {listing}; "
            f"the first: {report.problems[0]}"
        )

    def steps_per_epoch(self, recipe, count):
        """The recipe's steps per epoch, else one pass over `count` training samples."""
        batch = recipe.train.batch_size
        if count < batch:
            raise config_lib.ConfigError(f"train.batch_size ({batch}) is larger than the training set ({count}).")
        return recipe.train.steps_per_epoch or max(count // batch, 1)

    @staticmethod
    def synthetic_dir(data, data_dir):
        """Where the synthetic scenes are prepared (`--data-dir`), None for list datasets."""
        return data_dir if data.source == "synthetic" else None

    @staticmethod
    def first_step(run, steps_per_epoch):
        return first_step(run, steps_per_epoch)

    @staticmethod
    def open_run(run_dir, data_dir):
        """`(run, recipe, data section with --data-dir applied)` of an existing run."""
        run = RunDirectory(run_dir)
        recipe = run.load_recipe()
        return run, recipe, resolve_list_paths(recipe.data, data_dir)
