"""Faults during training: a run that diverges stops, names the step, loses nothing and resumes."""

import errno
import json
import signal
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from cenkeras.training.callbacks import TrainingDiverged
from cenkeras.cli.main import cli
from cenkeras.training.runs import RunDirectory, RunError
from cenkeras.tasks import get_task
from cenkeras.tasks.segmentation_run import build_segmenter
from tiny_recipe import tiny_recipe

# Each test trains (and kills, and resumes) a tiny run through the console script or the task.
pytestmark = pytest.mark.slow

train = get_task("segmentation").train


class PoisonWeightsAt(keras.callbacks.Callback):
    """Writes NaN into the classifier at the start of `epoch`'s `batch` (0-based): the loss of
    that batch is NaN. Also records the classifier at the end of every finished epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None
        self.finished = {}

    def on_train_begin(self, logs=None):
        self.kernel = self.model.segmenter.get_layer("clf_conv").kernel  # self.model: the trainer

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            self.kernel.assign(np.full(self.kernel.shape, np.nan, np.float32))

    def on_epoch_end(self, epoch, logs=None):
        self.finished[epoch] = np.array(self.kernel.numpy())


def test_nan_loss_stops_keeps_the_last_good_epoch_and_resumes_with_a_smaller_rate(tmp_path):
    run_dir, data_dir = tmp_path / "run", str(tmp_path / "tfds")
    recipe = tiny_recipe(epochs=(3,))
    poison = PoisonWeightsAt(epoch=1, batch=2)
    with pytest.raises(TrainingDiverged, match=r"loss was nan at epoch 2, step 3") as error:
        train(recipe, run_dir, data_dir=data_dir, verbose=0, callbacks=[poison])
    assert "--resume --set train.lr_encoder=... --set train.lr_decoder=..." in str(error.value)

    # Nothing of the diverged epoch was written: log, last weights and backup are epoch 1's.
    run = RunDirectory(run_dir)
    assert [r["epoch"] for r in run.read_metrics()] == [1]
    restored = build_segmenter(recipe)
    restored.load_weights(str(run.last_weights))
    kernel = restored.get_layer("clf_conv").kernel.numpy()
    assert np.isfinite(kernel).all()
    np.testing.assert_array_equal(kernel, poison.finished[0])
    assert any(run.backup.iterdir())

    # The same command with --resume and a smaller learning rate continues from epoch 2.
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--run-dir",
            str(run_dir),
            "--data-dir",
            data_dir,
            "--resume",
            "--quiet",
            "--set",
            "train.lr_encoder=0.001",
            "--set",
            "train.lr_decoder=0.001",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]
    saved = json.loads((run_dir / "recipe.json").read_text())
    assert saved["train"]["lr_encoder"] == [0.001] and saved["name"] == "tiny"
    assert all(np.isfinite(r["loss"]) for r in run.read_metrics())


def test_a_diverged_run_is_a_clear_cli_error(tmp_path):
    """At the CLI the divergence is one message (exit 1), not a stack trace."""
    run_dir, data_dir = tmp_path / "run", str(tmp_path / "tfds")
    recipe_file = tmp_path / "exploding.py"
    recipe_file.write_text(
        "from cenkeras.experiments.recipe_files import load_recipe\n"
        "def recipe():\n"
        "    r = load_recipe('synthetic_rgbd')\n"
        "    r.name = 'exploding'\n"
        "    r.data.synthetic.num_train, r.data.synthetic.num_val = 8, 4\n"
        "    r.data.synthetic.height, r.data.synthetic.width = 32, 48\n"
        "    r.data.crop_size, r.data.shorter_side = 32, 24\n"
        "    r.model.base_width, r.model.decoder_width = 4, 8\n"
        "    r.train.epochs, r.train.batch_size, r.train.precision = (2,), 4, 'float32'\n"
        "    r.train.lr_encoder = r.train.lr_decoder = (1e30,)\n"  # diverges at once
        "    r.eval.batch_size = 4\n"
        "    return r\n"
    )
    result = CliRunner().invoke(
        cli, ["train", str(recipe_file), "--run-dir", str(run_dir), "--data-dir", data_dir, "--quiet"]
    )
    assert result.exit_code == 1, result.output
    assert "training stopped: the loss was" in result.output and "at epoch 1" in result.output
    assert "no backup (no epoch had finished)" in result.output
    assert "Traceback" not in result.output
    assert RunDirectory(run_dir).read_metrics() == []


KILLED_TRAINING = str(Path(__file__).parent / "killed_training.py")


def run_killed(moment, run_dir, data_dir, epoch, *flags):
    """Run killed_training.py; returns its exit code (-SIGKILL when it was killed)."""
    process = subprocess.run(
        [sys.executable, KILLED_TRAINING, moment, str(run_dir), data_dir, str(epoch), *flags],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode in (0, -signal.SIGKILL), process.stderr[-2000:]
    return process.returncode


# (moment, epoch it happens in, epochs logged after the kill, first epoch the resumed run trains).
# One kill per kind of state the run can be left in: nothing of the epoch written (a kill mid-batch,
# in the deterministic test below; it stands for one mid-validation or before the metrics rename,
# which leave the same files), a weights file cut short (the backup's; the last and best files are
# written by the same code), the epoch logged but its backup uncommitted, a first epoch with nothing
# committed, a committed epoch whose best is pending, and no run yet.
KILLS = [
    ("write:epoch-00002", 2, [1, 2], 1),  # the backup's weights file, cut short: epoch 2 not committed
    ("rename:training_metadata.json", 2, [1, 2], 1),  # epoch 2 logged, its backup not committed
    ("write:best", 1, [], 0),  # first epoch: nothing committed yet, the run starts again
    ("rename:best.weights.h5", 1, [1], 1),  # epoch 1 committed, its best not yet in place
    ("rename:recipe.json", 1, [], 0),  # before training: no run yet, the same command starts it
]


@pytest.mark.parametrize("moment, epoch, logged, resumed_from", KILLS, ids=[k[0] for k in KILLS])
def test_sigkilled_run_resumes_without_losing_a_finished_epoch(tmp_path, moment, epoch, logged, resumed_from):
    """SIGKILL at each moment of a run that writes something; the same command then continues
    from the last backup, and the run ends with every epoch logged once, one backup file, no
    partial files, and loadable checkpoints."""
    run_dir, data_dir = tmp_path / "run", str(tmp_path / "tfds")
    assert run_killed(moment, run_dir, data_dir, epoch) == -signal.SIGKILL
    run = RunDirectory(run_dir)
    assert [r["epoch"] for r in run.read_metrics()] == logged
    if run.best_record.exists():  # best.weights.h5 only ever holds a committed, logged epoch
        assert json.loads(run.best_record.read_text())["epoch"] in logged
    if moment.startswith("write:"):  # the cut-short file was never renamed into place
        assert list(run_dir.rglob("*.partial.weights.h5"))

    _, history = train(tiny_recipe(epochs=(3,)), run_dir, data_dir=data_dir, verbose=0, resume=run.exists())
    assert history.epoch == list(range(resumed_from, 3))
    assert_whole_after_resuming(run)


def assert_whole_after_resuming(run):
    """A resumed run of 3 epochs: each logged once, one backup file, no partial files, loadable
    checkpoints, the best the best-scoring epoch's."""
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]
    assert sorted(p.name for p in run.backup.glob("*.weights.h5")) == ["epoch-00003.weights.h5"]
    assert json.loads((run.backup / "training_metadata.json").read_text())["epoch"] == 3
    assert not list(run.path.rglob("*.partial.weights.h5")) and not list(run.path.glob(".*.tmp"))
    for weights in (run.last_weights, run.best_weights):
        build_segmenter(tiny_recipe()).load_weights(str(weights))
    scores = {r["epoch"]: r["val_ensemble_miou"] for r in run.read_metrics()}
    assert json.loads(run.best_record.read_text())["epoch"] == max(scores, key=scores.get)
    assert not run.best_pending.exists() and not run.best_pending_record.exists()


def test_a_best_of_an_uncommitted_epoch_is_dropped_and_one_of_a_committed_epoch_put_in_place(tmp_path):
    """The pending best is settled against the epoch the backup holds, whatever step a kill interrupted."""
    run = RunDirectory(tmp_path)
    run.checkpoints.mkdir(parents=True)
    run.best_weights.write_text("epoch 1")
    run.best_record.write_text(json.dumps({"epoch": 1, "score": 0.1}))

    run.best_pending.write_text("epoch 3")
    run.record_pending_best(3, "score", 0.3)
    run.settle_pending_best(committed_epoch=2)  # epoch 3 will run again: its best is not kept
    assert run.best_weights.read_text() == "epoch 1" and not run.best_pending.exists()
    assert json.loads(run.best_record.read_text())["epoch"] == 1

    run.best_pending.write_text("epoch 2")
    run.record_pending_best(2, "score", 0.2)
    run.settle_pending_best(committed_epoch=2)
    assert run.best_weights.read_text() == "epoch 2" and json.loads(run.best_record.read_text())["epoch"] == 2

    run.best_pending.write_text("epoch 4, its record never written")
    run.settle_pending_best(committed_epoch=4)
    assert run.best_weights.read_text() == "epoch 2" and not run.best_pending.exists()

    run.record_pending_best(5, "score", 0.5)  # killed after the rename, before best.json
    run.best_weights.write_text("epoch 5")
    run.settle_pending_best(committed_epoch=5)
    assert json.loads(run.best_record.read_text()) == {"epoch": 5, "score": 0.5}
    assert not run.best_pending_record.exists()


def test_deterministic_killed_and_resumed_run_ends_with_the_uninterrupted_weights(tmp_path):
    """--deterministic: killed at epoch 2's second batch (nothing of epoch 2 written) and resumed
    with the same command, the run is whole and its final weights equal the uninterrupted run's
    exactly (tolerance 0)."""
    data_dir = str(tmp_path / "tfds")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert run_killed("none", whole, data_dir, 0, "--deterministic") == 0
    assert run_killed("batch", killed, data_dir, 2, "--deterministic") == -signal.SIGKILL
    assert [r["epoch"] for r in RunDirectory(killed).read_metrics()] == [1]
    assert json.loads(RunDirectory(killed).best_record.read_text())["epoch"] == 1  # a logged epoch
    assert run_killed("none", killed, data_dir, 0, "--deterministic", "--resume") == 0
    assert_whole_after_resuming(RunDirectory(killed))
    final = {}
    for run_dir in (whole, killed):
        segmenter = build_segmenter(tiny_recipe())
        segmenter.load_weights(str(RunDirectory(run_dir).last_weights))
        final[run_dir] = segmenter.get_weights()
    assert len(final[whole]) > 10
    for uninterrupted, resumed in zip(final[whole], final[killed]):
        np.testing.assert_array_equal(uninterrupted, resumed)


def test_too_little_free_space_is_reported_before_training(tmp_path, monkeypatch):
    import shutil

    import cenkeras.training.runs

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(cenkeras.training.runs.shutil, "disk_usage", lambda path: usage._replace(free=10_000))
    run_dir = tmp_path / "run"
    with pytest.raises(RunError, match=r"not enough free space for the run in .*run: 0 MB free"):
        train(tiny_recipe(epochs=(1,)), run_dir, data_dir=str(tmp_path / "tfds"), verbose=0)
    run = RunDirectory(run_dir)
    assert run.read_metrics() == [] and not any(run.checkpoints.iterdir())


def test_a_failed_checkpoint_write_names_the_path_and_keeps_the_previous_one(tmp_path, monkeypatch):
    save_weights = keras.Model.save_weights
    writes = []

    def disk_full_on_second_last_write(model, filepath, *args, **kwargs):
        if "last.partial" in str(filepath):
            writes.append(filepath)
            if len(writes) == 2:
                with open(filepath, "wb") as file:
                    file.write(b"half a file")
                raise OSError(errno.ENOSPC, "No space left on device")
        return save_weights(model, filepath, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save_weights", disk_full_on_second_last_write)
    recipe = tiny_recipe(epochs=(2,))
    run_dir = tmp_path / "run"
    with pytest.raises(
        RunError,
        match=r"cannot write checkpoint .*last.weights.h5: No space left on device; "
        r"the previous one is intact",
    ):
        train(recipe, run_dir, data_dir=str(tmp_path / "tfds"), verbose=0)
    run = RunDirectory(run_dir)
    assert not list(run.checkpoints.glob("*.partial.*"))
    restored = build_segmenter(recipe)
    restored.load_weights(str(run.last_weights))  # epoch 1's file, whole
    assert np.isfinite(restored.get_layer("clf_conv").kernel.numpy()).all()


def test_an_unwritable_run_directory_is_reported_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(cli, ["train", "--run-dir", str(blocker / "run"), "--quiet"])
    assert result.exit_code == 1
    assert f"cannot write to run directory {blocker / 'run'}" in result.output
    assert "Traceback" not in result.output
