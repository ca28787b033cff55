"""Run directories: everything one training run writes, in one folder.

RUN_DIR/
  recipe.json            the resolved recipe (after --set overrides)
  checkpoints/last.weights.h5, best.weights.h5   model weights
  backup/                keras.callbacks.BackupAndRestore state (resume)
  logs/                  TensorBoard event files
  metrics.jsonl          one JSON object per epoch
  eval.json              written by `cenkeras eval`
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from cenkeras import config as config_lib


class RunError(ValueError):
    """A run directory that cannot be used as asked; the message names it."""


def atomic_write_text(path, text):
    """Write `text` to `path` through a temporary file and a rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# Recipe keys a resumed run may change besides the learning rates: its length, determinism,
# the data checks and policy, and the watch for a stuck step (raised after a false alarm).
CHANGEABLE_ON_RESUME = (
    "train.epochs",
    "train.deterministic",
    "train.step_timeout",
    "train.first_step_timeout",
    "data.verify",
    "data.on_error",
)


def resume_may_change(key):
    """Whether resuming a run may change recipe `key` ("train.epochs"): the learning rates and
    `CHANGEABLE_ON_RESUME`; everything else is the recorded recipe's."""
    return key in CHANGEABLE_ON_RESUME or key.startswith("train.lr_")


class RunDirectory:
    """Paths and bookkeeping of one run folder."""

    def __init__(self, path):
        self.path = Path(path)

    recipe_file = property(lambda self: self.path / "recipe.json")
    checkpoints = property(lambda self: self.path / "checkpoints")
    last_weights = property(lambda self: self.checkpoints / "last.weights.h5")
    best_weights = property(lambda self: self.checkpoints / "best.weights.h5")
    # The epoch and score best.weights.h5 holds.
    best_record = property(lambda self: self.checkpoints / "best.json")
    # An improved best written before its epoch's backup committed, and its record.
    best_pending = property(lambda self: self.checkpoints / "best.pending.weights.h5")
    best_pending_record = property(lambda self: self.checkpoints / "best.pending.json")
    backup = property(lambda self: self.path / "backup")
    logs = property(lambda self: self.path / "logs")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    # Problems of the training samples left out (data.on_error=skip): "epoch<TAB>problem" lines.
    skipped_file = property(lambda self: self.path / "skipped.tsv")
    eval_file = property(lambda self: self.path / "eval.json")

    def eval_file_for(self, modalities=None):
        """Where an evaluation goes: eval.json, or eval_<a+b>.json for one from some modalities only."""
        return self.path / f"eval_{'+'.join(modalities)}.json" if modalities else self.eval_file

    def exists(self):
        return self.recipe_file.exists()

    def create(self, recipe, resume=False):
        """Start a run here, or continue one with `resume=True`.

        A new run refuses a folder that already holds a run that trained an
        epoch (nothing is overwritten); one that failed before its first
        epoch ended holds nothing to keep and starts again. Resuming needs a run, and its recorded recipe wins over
        the one given, except for the training length (more epochs may be
        added), the learning rates (`train.lr_*`: e.g. smaller ones after
        a divergence) and the rest of `CHANGEABLE_ON_RESUME`.
        """
        if self.exists() and not resume and self.trained_an_epoch():
            raise RunError(
                f"{self.path} already holds a run; pass --resume to continue it or choose another --run-dir."
            )
        if resume and not self.exists():
            raise RunError(f"cannot resume: {self.path} holds no run (no recipe.json).")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(exist_ok=True)
            probe = self.path / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as error:
            raise RunError(f"cannot write to run directory {self.path}: {error.strerror or error}")
        self._remove_partial_files()
        if resume:
            saved = self.load_recipe()
            for section in ("train", "data"):
                for name in vars(getattr(saved, section)):
                    if resume_may_change(f"{section}.{name}"):
                        setattr(getattr(saved, section), name, getattr(getattr(recipe, section), name))
            recipe = saved
        atomic_write_text(self.recipe_file, json.dumps(config_lib.to_dict(recipe), indent=2) + "\n")
        return recipe

    def trained_an_epoch(self):
        """Whether the run finished an epoch: a metrics line, a checkpoint or a backup."""
        backed_up = self.backup.is_dir() and any(self.backup.iterdir())
        checkpoints = self.checkpoints.is_dir() and any(self.checkpoints.glob("*.weights.h5"))
        return bool(self.read_metrics()) or checkpoints or backed_up

    def _remove_partial_files(self):
        """Temporary files a killed process left behind (the files they were to replace are intact)."""
        for stale in [*self.path.glob(".*.tmp"), *self.checkpoints.glob("*.partial.weights.h5")]:
            stale.unlink()

    def record_pending_best(self, epoch, monitor, value):
        """Say which epoch (and score) the pending best weights hold; written after them."""
        atomic_write_text(self.best_pending_record, json.dumps({"epoch": epoch, monitor: value}) + "\n")

    def settle_pending_best(self, committed_epoch):
        """Make the pending best the best if its epoch is committed (backed up); drop it if not.

        Called after each epoch's backup and when a run is resumed. The steps
        are ordered so that a kill between any two leaves a state this method
        settles next time: the weights are renamed onto best.weights.h5, then
        best.json is written, then the pending record removed. Pending weights
        without a record are a write that never finished: dropped.
        """
        if not self.best_pending_record.exists():
            self.best_pending.unlink(missing_ok=True)
            return
        record = json.loads(self.best_pending_record.read_text(encoding="utf-8"))
        if record["epoch"] <= committed_epoch:
            if self.best_pending.exists():
                os.replace(self.best_pending, self.best_weights)
            atomic_write_text(self.best_record, json.dumps(record) + "\n")
        else:
            self.best_pending.unlink(missing_ok=True)
        self.best_pending_record.unlink()

    def keep_metrics_until(self, epoch):
        """Drop metrics.jsonl lines after `epoch`: epochs logged but not backed up, which resuming runs again.

        Each epoch's files are written in the order last/best weights,
        metrics line, backup; the backup commits the epoch. A kill between the
        metrics line and the backup would otherwise log that epoch twice.
        """
        records = self.read_metrics()
        kept = [r for r in records if r.get("epoch", 0) <= epoch]
        if len(kept) != len(records):
            atomic_write_text(self.metrics_file, "".join(json.dumps(r) + "\n" for r in kept))

    def check_free_space(self, needed_bytes):
        """Raise `RunError` before training when the disk cannot hold the run's checkpoints."""
        free = shutil.disk_usage(self.path).free
        if free < needed_bytes:
            raise RunError(
                f"not enough free space for the run in {self.path}: {free / 1e6:.0f} MB free, its "
                f"checkpoints need about {needed_bytes / 1e6:.0f} MB. Free some space or choose another --run-dir."
            )

    def load_recipe(self):
        if not self.recipe_file.exists():
            raise RunError(f"{self.path} is not a run directory (no recipe.json).")
        return config_lib.recipe_from_dict(json.loads(self.recipe_file.read_text()))

    def weights_for_eval(self):
        """Best weights if the run validated at least once, else the last ones."""
        for path in (self.best_weights, self.last_weights):
            if path.exists():
                return path
        raise RunError(f"{self.path} has no checkpoint yet (checkpoints/best.weights.h5 or last.weights.h5).")

    def read_metrics(self):
        if not self.metrics_file.exists():
            return []
        return [json.loads(line) for line in self.metrics_file.read_text().splitlines() if line.strip()]
