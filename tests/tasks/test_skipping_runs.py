"""Training with data.on_error=skip: counted per epoch, listed once in skipped.tsv, resumable."""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from cenkeras.data.skipping import SKIPPED_KEY
from cenkeras.training.runs import RunDirectory
from cenkeras.tasks import get_task
from tiny_recipe import tiny_recipe, tiny_translation_recipe

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from nyud_helpers import write_list, write_sample  # noqa: E402

# Each test trains a tiny run on damaged data.
pytestmark = pytest.mark.slow


def tensorboard_texts(run_dir):
    """The `skipped_samples` texts of a run's TensorBoard logs."""
    texts = []
    for path in (Path(run_dir) / "logs" / "cen").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "skipped_samples":
                    texts.append(tf.make_ndarray(value.tensor).item().decode())
    assert texts
    return texts


def list_recipe(root, epochs):
    recipe = tiny_recipe(epochs=epochs, freeze_bn=False)
    recipe.model.num_classes = 5
    recipe.data.source = "list"
    recipe.data.root = str(root)
    recipe.data.train_list = "train.txt"
    recipe.data.val_list = "val.txt"
    recipe.data.on_error = "skip"
    recipe.data.modalities["rgb"].column, recipe.data.modalities["depth"].column = 0, 2
    recipe.data.mask_column = 1
    return recipe


def test_skipped_samples_are_counted_per_epoch_listed_once_and_survive_a_resume(tmp_path, capsys):
    root = tmp_path / "data"
    for index in range(12):
        write_sample(root, index, size=(32, 48))
    write_list(root, "train.txt", range(12))  # batch 4: an epoch is one pass, 3 steps
    write_list(root, "val.txt", range(2))
    for index in (3, 8):
        (root / "depth" / f"{index:06d}.png").write_bytes(b"not a png")
    task, run_dir = get_task("segmentation"), tmp_path / "run"

    _, history = task.train(list_recipe(root, (2,)), run_dir, verbose=0)
    assert history.history["skipped"] == [2.0, 2.0]
    assert "val_skipped" not in history.history
    listed = RunDirectory(run_dir).skipped_file.read_text().splitlines()
    assert len(listed) == 2 and all(line.startswith("1\tcannot read image") for line in listed)
    assert "2 bad training sample(s) left out of their batches" in capsys.readouterr().out
    assert all("cannot read image" in text and "depth/0000" in text for text in tensorboard_texts(run_dir))

    task.train(list_recipe(root, (3,)), run_dir, resume=True, verbose=0)
    records = RunDirectory(run_dir).read_metrics()
    assert [r["skipped"] for r in records] == [2.0, 2.0, 2.0]
    assert RunDirectory(run_dir).skipped_file.read_text().splitlines() == listed


def test_the_translation_trainer_counts_what_the_batches_say():
    from cenkeras.tasks.translation_run import TranslationTask

    recipe = tiny_translation_recipe()
    recipe.data.source, recipe.data.root = "list", "/nowhere"
    recipe.data.train_list = recipe.data.val_list = "x.txt"
    recipe.data.on_error = "skip"
    task = TranslationTask()
    trainer = task.build_trainer(recipe, task.build_network(recipe)).trainer
    images = {name: np.zeros((2, 32, 32, 3), "float32") for name in recipe.data.domains[:-1]}
    images[SKIPPED_KEY] = np.array([3, 0], "int32")
    batches = tf.data.Dataset.from_tensors((images, np.zeros((2, 32, 32, 3), "float32"))).repeat(2)
    history = trainer.fit(batches, epochs=1, verbose=0, shuffle=False, callbacks=[keras.callbacks.History()])
    assert history.history["skipped"] == [6.0]
