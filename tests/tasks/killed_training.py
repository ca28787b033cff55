"""Helper run in a subprocess by test_reliability.py (not collected by pytest): trains a tiny
recipe and SIGKILLs itself at a chosen point, as a preempted machine would.

    python killed_training.py MOMENT RUN_DIR DATA_DIR EPOCH [--deterministic] [--resume]

MOMENT (in epoch EPOCH, 1-based):
- `batch`: at its second batch; `eval`: during its validation;
- `write:NAME`: while a weights file whose path holds NAME is written (the file is
  left cut short, then the process dies), e.g. `write:epoch-00002` (the backup),
  `write:last`, `write:best`;
- `rename:NAME`: when a finished file is about to be renamed onto NAME
  (e.g. `rename:metrics.jsonl`, `rename:training_metadata.json`, `rename:recipe.json`);
- `none`: no kill (the uninterrupted run).
"""

import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

import keras  # noqa: E402

from cenkeras.tasks import get_task  # noqa: E402
from tiny_recipe import tiny_recipe  # noqa: E402

train = get_task("segmentation").train

EPOCHS = (3,)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


class KillAt(keras.callbacks.Callback):
    def __init__(self, mode, epoch):
        super().__init__()
        self.mode, self.epoch, self.current = mode, epoch - 1, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.mode == "batch" and (self.current, batch) == (self.epoch, 1):
            die()

    def on_test_batch_begin(self, batch, logs=None):
        if self.mode == "eval" and self.current == self.epoch:
            die()


def kill_during_weights_write(name, killer):
    save_weights = keras.Model.save_weights

    def cut_short_then_die(model, filepath, *args, **kwargs):
        save_weights(model, filepath, *args, **kwargs)
        if name in str(filepath) and killer.current == killer.epoch:
            with open(filepath, "r+b") as file:
                file.truncate(os.path.getsize(filepath) // 3)
            die()

    keras.Model.save_weights = cut_short_then_die


def kill_before_rename(name, killer):
    replace = os.replace

    def die_before_rename(source, destination):
        if Path(destination).name == name and killer.current in (None, killer.epoch):
            die()
        return replace(source, destination)

    os.replace = die_before_rename


def main():
    mode, run_dir, data_dir, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    killer = KillAt(mode, epoch)
    if mode.startswith("write:"):
        kill_during_weights_write(mode.split(":", 1)[1], killer)
    if mode.startswith("rename:"):
        kill_before_rename(mode.split(":", 1)[1], killer)
    recipe = tiny_recipe(epochs=EPOCHS, deterministic="--deterministic" in sys.argv)
    train(recipe, run_dir, data_dir=data_dir, verbose=0, callbacks=[killer], resume="--resume" in sys.argv)


if __name__ == "__main__":
    main()
