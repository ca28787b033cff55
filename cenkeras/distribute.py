"""Choosing a tf.distribute strategy from a recipe / command-line name."""

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def make_strategy(name="auto"):
    """A tf.distribute strategy.

    - "auto": MirroredStrategy over all GPUs when there is more than one, else the default.
    - "default": one device.
    - "mirrored": MirroredStrategy over all local GPUs (or the CPU).
    - "multiworker": MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG.

    The batch size of a recipe is the global batch: each of N replicas gets 1/N of it.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {STRATEGIES}.")
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG describing the cluster, e.g. "
                + json.dumps({"cluster": {"worker": ["host1:12345", "host2:12345"]},
                              "task": {"type": "worker", "index": 0}})
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy):
    """True on the worker that writes checkpoints and logs (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and
                                    "chief" not in resolver.cluster_spec().as_dict())
