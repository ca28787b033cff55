"""What a trainer's train_step / test_step returns to Keras."""

import tensorflow as tf


def step_logs(metrics):
    """`{name: result}`; shaped [1] across several workers.

    Keras (3.15) averages per-replica logs with `strategy.reduce("MEAN", v, axis=0)`
    under MultiWorkerMirroredStrategy, which needs a batch axis. The results are
    already global (sum-aggregated metric variables), so the mean returns them unchanged.
    """
    strategy = tf.distribute.get_strategy()
    multi_worker = (
        isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
        and getattr(strategy.extended, "_in_multi_worker_mode", lambda: False)()
    )
    return {m.name: tf.reshape(m.result(), [1]) if multi_worker else m.result() for m in metrics}
