"""Helper run in subprocesses by test_distribution.py (not collected by pytest).

    python distributed_worker.py mirrored OUT.json frozen_bn|sync_bn
    python distributed_worker.py faulty OUT.npz DATA_DIR RUN_DIR kill|stuck|resume   (TF_CONFIG set by the caller)

`faulty kill`: 3 epochs, worker 1 SIGKILLs itself at epoch 2's second batch; the
survivor records the error it stopped with (OUT.json) and exits 3. `faulty stuck`:
worker 1 sleeps there instead (alive, heartbeats on); the other is stopped by the
step watchdog. `faulty resume`: the same run restarted with resume=True.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def mirrored(out_path, label):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np

    from cenkeras.models import build_refinenet
    from cenkeras.tasks.segmentation import SegmentationTrainer

    rng = np.random.default_rng(0)
    x = {k: rng.normal(size=(4, 32, 32, 3)).astype("float32") for k in ("rgb", "depth")}
    y = rng.integers(0, 5, size=(4, 32, 32)).astype("int32")
    y[0, :20] = 255  # replicas see different numbers of valid pixels
    dataset = tf.data.Dataset.from_tensors((x, y)).repeat(2)

    def make(strategy, **norm):
        with strategy.scope():
            model = build_refinenet(
                50,
                5,
                ["rgb", "depth"],
                stage_blocks=(1, 1, 1, 1),
                base_width=4,
                decoder_width=8,
                dropout=0.0,
                sparsity=1e-3,
                **norm,
            )
            encoder = keras.optimizers.SGD(0.05, momentum=0.9)
            decoder = keras.optimizers.SGD(0.05, momentum=0.9)
            trainer = SegmentationTrainer(model, encoder, decoder, 5, weight_decay=1e-3)
            trainer.compile(optimizer=encoder)
            trainer.build_optimizers()
        return trainer

    # One strategy per process: a second MirroredStrategy in the same process reuses
    # collective instance keys and aborts.
    norm = {"frozen_bn": {"freeze_norm_statistics": True}, "sync_bn": {"synchronized_bn": True}}[label]
    keras.utils.set_random_seed(1)
    single = make(tf.distribute.get_strategy(), **norm)
    initial = single.segmenter.get_weights()
    mirrored = make(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), **norm)
    mirrored.segmenter.set_weights(initial)
    history_single = single.fit(dataset, epochs=1, verbose=0).history
    history_mirrored = mirrored.fit(dataset, epochs=1, verbose=0).history
    first_single = single.segmenter.get_weights()
    # Differences are measured against how far the two steps moved the weights: a variable's own
    # size is no scale for those that barely moved (BatchNorm betas of ~1e-6 after two steps
    # differ by a few percent of themselves, 1e-7 in absolute terms, with the reduction order).
    changed = max(float(np.abs(a - b).max()) for a, b in zip(initial, first_single))
    difference = max(float(np.abs(a - b).max()) for a, b in zip(first_single, mirrored.segmenter.get_weights()))
    results = {
        label: {
            "loss_single": history_single["loss"][0],
            "loss_mirrored": history_mirrored["loss"][0],
            "max_weight_difference_over_change": difference / changed,
            "max_weight_change": changed,
            "replicas": 2,
        }
    }
    with open(out_path, "w") as stream:
        json.dump(results, stream)


def faulty(out_path, data_dir, run_dir, phase):
    import signal
    import time

    import keras
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tiny_recipe import tiny_recipe

    from cenkeras.training.distribute import WorkerLost
    from cenkeras.tasks import get_task

    train = get_task("segmentation").train

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]

    class KillWorkerOne(keras.callbacks.Callback):
        """`kill`: worker 1 dies at epoch 2's second batch; `stuck`: it stays alive but never goes on."""

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if phase in ("kill", "stuck") and index == 1 and (self.epoch, batch) == (1, 1):
                with open(out_path + ".killed", "w") as stream:
                    stream.write(str(time.time()))
                if phase == "stuck":
                    time.sleep(3600)  # heartbeats go on: only the step watchdog can tell
                os.kill(os.getpid(), signal.SIGKILL)

    recipe = tiny_recipe(epochs=(3,))
    recipe.train.strategy = "multiworker"
    recipe.train.freeze_bn = True
    recipe.model.backbone_weights = os.path.join(os.path.dirname(out_path), "backbone.npz")  # see launch_workers
    recipe.train.worker_timeout = 10
    # A dead worker is found by its heartbeats (10 s); the watchdog is for the stuck one only.
    recipe.train.step_timeout = 15 if phase == "stuck" else 120
    recipe.train.first_step_timeout = 300
    try:
        segmenter, history = train(
            recipe, run_dir, data_dir=data_dir, verbose=0, callbacks=[KillWorkerOne()], resume=phase == "resume"
        )
    except WorkerLost as error:
        with open(out_path + ".json", "w") as stream:
            json.dump({"error": str(error), "time": time.time()}, stream)
        sys.exit(3)
    np.savez(out_path, *segmenter.get_weights(), epochs=np.array(history.epoch), loss=np.array(history.history["loss"]))


if __name__ == "__main__":
    if sys.argv[1] == "mirrored":
        mirrored(sys.argv[2], sys.argv[3])
    else:
        faulty(*sys.argv[2:6])
