"""Time the CEN models on this machine and print a table.

    python bench/bench_models.py                      # RefineNet-101 RGB-D, float32
    python bench/bench_models.py --precision mixed_bfloat16 --depth 50

Workloads: segmenter inference (batch 1, 480x640), segmenter train step
(batch 2, 240x320, frozen BN, cross-entropy on every output + L1), generator
inference and forward+backward (256x256), each with the exchange on and off so
the exchange overhead is a same-run ratio. Not a test: it asserts nothing.
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from cenkeras.models import build_refinenet, build_unet_generator


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def segmenter_workloads(depth, exchange):
    model = build_refinenet(
        depth, 40, ["rgb", "depth"], exchange=exchange, sparsity=6e-4, freeze_norm_statistics=True
    )
    optimizer = keras.optimizers.SGD(1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    infer_x = {k: tf.constant(rng.normal(size=(1, 480, 640, 3)), tf.float32) for k in ("rgb", "depth")}
    train_x = {k: tf.constant(rng.normal(size=(2, 240, 320, 3)), tf.float32) for k in ("rgb", "depth")}
    labels = tf.constant(rng.integers(0, 40, size=(2, 60, 80)), tf.int32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def infer():
        return model(infer_x, training=False)["ensemble"]

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            out = model(train_x, training=True)
            loss = tf.add_n([loss_fn(labels, v) for v in out.values()]) + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return {"segmenter inference 480x640": infer, "segmenter train step b2 240x320": train_step}


def generator_workloads(exchange):
    model = build_unet_generator(["shade", "texture"], exchange=exchange, sparsity=1e-3)
    rng = np.random.default_rng(1)
    x = {k: tf.constant(rng.uniform(-1, 1, (1, 256, 256, 3)), tf.float32) for k in ("shade", "texture")}
    target = tf.constant(rng.uniform(-1, 1, (1, 256, 256, 3)), tf.float32)

    @tf.function
    def infer():
        return model(x, training=False)["ensemble"]

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = tf.add_n([tf.reduce_mean(tf.abs(v - target)) for v in out.values()])
        return tape.gradient(loss, model.trainable_variables)

    return {"generator inference 256": infer, "generator fwd+bwd 256": forward_backward}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=101, choices=(50, 101, 152))
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    keras.config.set_dtype_policy(args.precision)

    rows = []
    for exchange in ("all", None):
        for name, fn in {**segmenter_workloads(args.depth, exchange), **generator_workloads(exchange)}.items():
            times = timed(fn, args.warmup, args.repeats)
            rows.append((name, "on" if exchange else "off", times))
            print(f"  measured {name} (exchange {'on' if exchange else 'off'})", flush=True)

    print(f"\nRefineNet-{args.depth} / U-Net-256, M = 2, {args.precision}, "
          f"{args.repeats} timed runs after {args.warmup} warm-up")
    print(f"| workload | exchange | median s | min s | max s | exchange on/off |")
    print("|---|---|---|---|---|---|")
    medians = {(name, ex): statistics.median(t) for name, ex, t in rows}
    for name, ex, times in rows:
        ratio = medians[(name, "on")] / medians[(name, "off")] if ex == "on" else float("nan")
        ratio_text = f"{ratio:.3f}" if ex == "on" else ""
        print(f"| {name} | {ex} | {statistics.median(times):.3f} | {min(times):.3f} | "
              f"{max(times):.3f} | {ratio_text} |")


if __name__ == "__main__":
    main()
