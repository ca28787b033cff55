"""Helper run in a subprocess by test_reliability.py (not collected by pytest): trains a tiny
recipe and SIGKILLs itself at a chosen point, as a preempted machine would.

    python killed_training.py batch|eval|backup-write RUN_DIR DATA_DIR EPOCH

`batch`: at the second batch of epoch EPOCH (1-based); `eval`: during that epoch's
validation; `backup-write`: while the backup at the end of that epoch is being written
(the file is left cut short, then the process dies).
"""

import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).parent))

import keras  # noqa: E402

from cenkeras.tasks.segmentation_run import train  # noqa: E402
from tiny_recipe import tiny_recipe  # noqa: E402

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


def kill_during_backup_write(epoch):
    save_weights = keras.Model.save_weights

    def cut_short_then_die(model, filepath, *args, **kwargs):
        save_weights(model, filepath, *args, **kwargs)
        if "backup" in str(filepath) and f"epoch-{epoch:05d}" in str(filepath):
            with open(filepath, "r+b") as file:
                file.truncate(os.path.getsize(filepath) // 3)
            die()

    keras.Model.save_weights = cut_short_then_die


def main():
    mode, run_dir, data_dir, epoch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if mode == "backup-write":
        kill_during_backup_write(epoch)
    train(tiny_recipe(epochs=EPOCHS), run_dir, data_dir=data_dir, verbose=0, callbacks=[KillAt(mode, epoch)])


if __name__ == "__main__":
    main()
