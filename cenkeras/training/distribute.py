"""Choosing a tf.distribute strategy from a recipe / command-line name."""

import contextlib
import json
import os
import re
import threading
import time

import keras
import tensorflow as tf
from tensorflow.python.eager import context

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def make_strategy(name="auto", worker_timeout=60, start_timeout=600):
    """A tf.distribute strategy.

    - "auto": MirroredStrategy over all GPUs when there is more than one, else the default.
    - "default": one device.
    - "mirrored": MirroredStrategy over all local GPUs (or the CPU).
    - "multiworker": MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG.
      A worker that sends no heartbeat for `worker_timeout` seconds is declared
      lost, and every other worker's collectives fail (`WorkerLost` once
      wrapped by `stop_on_lost_worker`) instead of waiting forever; all workers
      must have joined within `start_timeout` seconds.

    The batch size of a recipe is the global batch: each of N replicas gets 1/N of it.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; expected one of {STRATEGIES}.")
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG describing the cluster, e.g. "
                + json.dumps(
                    {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}
                )
            )
        configure_worker_health(worker_timeout, start_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def configure_worker_health(worker_timeout, start_timeout):
    """Set TensorFlow's coordination service up before the strategy does, with our timeouts.

    MultiWorkerMirroredStrategy configures the service only when nobody has,
    with TensorFlow's defaults; the same cluster layout is used here.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util

    if context.context().coordination_service is not None:
        return  # already configured in this process
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec()
    jobs = [
        coordination_config_pb2.CoordinatedJob(name=job, num_tasks=cluster.num_tasks(job))
        for job in ("chief", "worker")
        if job in cluster.jobs
    ]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster),
        coordinated_jobs=jobs,
        heartbeat_timeout_in_ms=int(worker_timeout * 1000),
        cluster_register_timeout_in_ms=int(start_timeout * 1000),
    )


# The message a stuck step aborts the collectives with (recognised by `stop_on_lost_worker`).
STUCK_MARKER = "cenkeras step watchdog:"


class StepWatchdog(keras.callbacks.Callback):
    """Abort this worker's collectives when no step finishes in time: a peer alive but stuck.

    A worker that dies stops sending heartbeats and the coordination service
    fails the others' collectives (`worker_timeout`). One that is alive but
    stuck (a hung reader, a deadlock, a GPU that stopped answering) keeps
    sending them, and every other worker would wait in its next collective
    forever. This callback's thread watches for progress (any training or
    validation batch, epoch boundary) and, when there is none for
    `step_timeout` seconds, aborts the collectives of this process with
    DEADLINE_EXCEEDED; `stop_on_lost_worker` turns that into `WorkerLost`.
    A step that builds and compiles a function (the first training step, the
    first validation) is allowed `first_step_timeout` instead.

    Examples:

        >>> watchdog = StepWatchdog(step_timeout=600, first_step_timeout=1800)
        >>> watchdog.allowance(first=True), watchdog.allowance(first=False)
        (1800, 600)
    """

    def __init__(self, step_timeout, first_step_timeout, poll_seconds=1.0):
        super().__init__()
        self.step_timeout, self.first_step_timeout = step_timeout, first_step_timeout
        self.poll_seconds = poll_seconds
        self._deadline = None
        self._trained = self._validated = False
        self._stop = threading.Event()
        self._thread = None

    def allowance(self, first):
        return self.first_step_timeout if first else self.step_timeout

    def _allow(self, first=False):
        self._deadline = time.monotonic() + self.allowance(first)

    def _watch(self):
        while not self._stop.wait(self.poll_seconds):
            if self._deadline is not None and time.monotonic() > self._deadline:
                waited = self.allowance(first=False)
                context.context().abort_collective_ops(
                    tf.errors.DEADLINE_EXCEEDED,
                    f"{STUCK_MARKER} no step finished within train.step_timeout ({waited:g} s, "
                    f"{self.first_step_timeout:g} s for a step that compiles)",
                )
                return

    def on_train_begin(self, logs=None):
        self._allow(first=True)
        self._thread = threading.Thread(target=self._watch, name="cenkeras-step-watchdog", daemon=True)
        self._thread.start()

    def on_train_batch_end(self, batch, logs=None):
        self._trained = True
        self._allow()

    def on_epoch_begin(self, epoch, logs=None):
        self._allow(first=not self._trained)  # the first step of the run is still to compile

    def on_epoch_end(self, epoch, logs=None):
        self._allow()

    def on_test_begin(self, logs=None):
        self._allow(first=not self._validated)
        self._validated = True

    def on_test_batch_end(self, batch, logs=None):
        self._allow()

    def on_train_end(self, logs=None):
        self._stop.set()


class WorkerLost(RuntimeError):
    """A worker of a multi-worker run stopped (killed, preempted, crashed); training cannot go on."""


LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)


@contextlib.contextmanager
def stop_on_lost_worker(strategy, run, backed_up_epoch):
    """Turn the collective failure a lost worker causes into `WorkerLost`, saying how to resume.

    `backed_up_epoch()` gives the epoch the run's backup holds (read when the error happens).
    """
    try:
        yield
    except LOST_WORKER_ERRORS as error:
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            raise
        message = str(error.message)
        found = re.findall(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)", message)
        tasks = sorted({f"{job} {task}" for job, task in found})
        where = ", ".join(tasks) or "a peer"
        if STUCK_MARKER in message:
            detail = message.split(STUCK_MARKER, 1)[1].strip().splitlines()[0]
            reason = f"{detail.split(')', 1)[0]}): every worker still sent heartbeats, so one is alive but stuck"
        elif "unhealthy" in message:
            reason = f"{where} stopped sending heartbeats"
        else:
            reason = f"{type(error).__name__} from {where}: {message.strip().splitlines()[0][:200]}"
        epoch = backed_up_epoch()
        kept = f"its backup holds epoch {epoch}" if epoch else "no epoch had finished"
        raise WorkerLost(
            f"a worker of the multi-worker run was lost ({reason}); training stopped. {run.path}: {kept}. "
            "Restart every worker with the same command and --resume to continue from there."
        ) from None


def is_chief(strategy):
    """True on the worker that writes checkpoints and logs (always true off multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )
