"""GPU check: RefineNet-101 RGB-D at 480x640 on one GPU; train and inference images/s, share of the bf16 peak.

    python bench/gpu_check.py [--batch 6] [--repeats 10]

Runs the cenkeras model definition (the same builders, layers and weights
layout as on TensorFlow) under the Keras backend in KERAS_BACKEND, JAX by
default: the lent GPU machines carry JAX and CUDA but no TensorFlow, and a
TensorFlow GPU build (~600 MB) cannot be carried there. The train step is
the official one (frozen BN, cross-entropy on the three outputs + L1,
momentum SGD) at mixed_bfloat16 with stacked streams; inference is one
image and a batch. FLOPs are counted from the traced program of the
step's convolutions (forward; training counts 3x forward, as bench_models.py
does), so "share of peak" is (FLOP/s) / the GPU's dense bf16 peak.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from cenkeras.models import build_refinenet  # noqa: E402
from cenkeras.models.refinenet import tiny_options  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s) from the vendor data sheets.
BF16_PEAK_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0, "L4": 121.0, "L40S": 362.0}


def bf16_peak(device_kind):
    for name, peak in BF16_PEAK_TFLOPS.items():
        if name in device_kind:
            return peak
    return None


def timed(fn, args, repeats):
    out = fn(*args)
    jax.block_until_ready(out)  # compile + warm-up
    out = fn(*args)
    jax.block_until_ready(out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def conv_flops(fn, args):
    """FLOPs (2 x multiply-adds) of the convolutions in `fn`'s traced program (jaxpr)."""
    total = 0

    def visit(jaxpr):
        nonlocal total
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                rhs = eqn.invars[1].aval.shape
                spec = eqn.params["dimension_numbers"].rhs_spec  # (out, in, *spatial)
                window = int(np.prod([rhs[i] for i in spec[2:]]))
                total += 2 * int(np.prod(eqn.outvars[0].aval.shape)) * window * rhs[spec[1]]
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    inner = getattr(sub, "jaxpr", sub)
                    if hasattr(inner, "eqns"):
                        visit(inner)

    visit(jax.make_jaxpr(fn)(*args).jaxpr)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=6, help="Train batch (the official NYUDv2 batch is 6).")
    parser.add_argument("--infer-batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--tiny", action="store_true", help="A tiny model at 64x64: checks the script on a CPU.")
    args = parser.parse_args()
    height, width = (64, 64) if args.tiny else (480, 640)

    device = jax.devices()[0]
    print(
        f"backend {keras.backend.backend()}, device {device.device_kind}, jax {jax.__version__}, "
        f"keras {keras.__version__}",
        flush=True,
    )
    keras.config.set_dtype_policy(args.precision)
    model = build_refinenet(
        101,
        40,
        ["rgb", "depth"],
        sparsity=6e-4,
        freeze_norm_statistics=True,
        stack_streams=True,
        **(tiny_options() if args.tiny else {}),
    )
    print(f"RefineNet-101 RGB-D: {model.count_params():,} parameters", flush=True)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    momentum = [jnp.zeros_like(v) for v in trainable]
    rng = np.random.default_rng(0)

    def images(batch):
        return {k: jnp.asarray(rng.normal(size=(batch, height, width, 3)), jnp.float32) for k in ("rgb", "depth")}

    x_train = images(args.batch)
    labels = jnp.asarray(rng.integers(0, 40, (args.batch, height // 4, width // 4)), jnp.int32)

    def loss_fn(trainable, non_trainable, x, y):
        outputs, non_trainable, losses = model.stateless_call(
            trainable, non_trainable, x, training=True, return_losses=True
        )
        ce = sum(
            jnp.mean(keras.losses.sparse_categorical_crossentropy(y, o, from_logits=True)) for o in outputs.values()
        )
        return ce + sum(losses), non_trainable

    @jax.jit
    def train_step(trainable, non_trainable, momentum, x, y):
        (loss, non_trainable), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable, x, y)
        momentum = [0.9 * m + g for m, g in zip(momentum, grads)]
        trainable = [p - 1e-3 * m.astype(p.dtype) for p, m in zip(trainable, momentum)]
        return trainable, non_trainable, momentum, loss

    @jax.jit
    def infer(trainable, non_trainable, x):
        outputs, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return outputs["ensemble"]

    peak = bf16_peak(device.device_kind)
    rows = []
    train_args = (trainable, non_trainable, momentum, x_train, labels)
    forward_per_image = conv_flops(infer, (trainable, non_trainable, images(1)))
    print(f"convolutions: {forward_per_image / 1e9:.1f} GFLOP per RGB-D image forward", flush=True)
    start = time.perf_counter()
    median, best = timed(train_step, train_args, args.repeats)
    print(f"timed the train step ({time.perf_counter() - start:.0f} s with compilation)", flush=True)
    rows.append((f"train step, batch {args.batch}", args.batch, median, best, 3 * args.batch * forward_per_image))
    for batch in (1, args.infer_batch):
        infer_args = (trainable, non_trainable, images(batch))
        flops = batch * forward_per_image
        median, best = timed(infer, infer_args, args.repeats)
        rows.append((f"inference, batch {batch}", batch, median, best, flops))

    print(
        f"\nRefineNet-101 RGB-D, {height}x{width}, {args.precision}, stacked streams, {device.device_kind} "
        f"(dense bf16 peak {peak or 'unknown'} TFLOP/s); median of {args.repeats}\n"
    )
    print("| workload | median s | min s | images/s | conv TFLOP/s | share of bf16 peak |")
    print("|---|---|---|---|---|---|")
    for name, batch, median, best, flops in rows:
        tflops = flops / median / 1e12
        share = f"{100 * tflops / peak:.1f}%" if peak and np.isfinite(tflops) else "n/a"
        print(f"| {name} | {median:.4f} | {best:.4f} | {batch / median:.1f} | {tflops:.1f} | {share} |")


if __name__ == "__main__":
    main()
