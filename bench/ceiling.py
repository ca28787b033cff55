"""What this machine's cores can do at best: GFLOP/s of one large matmul and of RefineNet's decoder conv.

    python bench/ceiling.py

The decoder's 3x3 convolution (256 -> 256 channels at 1/4 resolution) carries
most of RefineNet's FLOPs; timed alone, forward and forward+backward, at the
stacked train-step shape, it bounds what any implementation can reach on
these cores. `bench_models.py` divides each workload's convolution FLOPs by
it to print the time floor.
"""

import time


def _rate(fn, flops, repeats=5):
    fn()
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return flops * repeats / (time.perf_counter() - start) / 1e9


def measure():
    # Imported here: bench_models imports this module for `conv_rate`, and its official-code
    # children must not load TensorFlow (its pages would count in their peak RSS).
    import tensorflow as tf

    rates = {}
    for dtype in (tf.bfloat16, tf.float32):
        a = tf.cast(tf.random.normal([2048, 2048]), dtype)
        matmul = tf.function(lambda: tf.matmul(a, a))
        rates[f"matmul 2048^3 {dtype.name}"] = _rate(lambda: matmul().numpy(), 2 * 2048**3)

        x = tf.cast(tf.random.normal([4, 60, 80, 256]), dtype)
        w = tf.cast(tf.random.normal([3, 3, 256, 256]) * 0.01, dtype)
        conv_flops = 2 * 4 * 60 * 80 * 9 * 256 * 256
        forward = tf.function(lambda: tf.nn.conv2d(x, w, 1, "SAME"))

        @tf.function
        def forward_backward():
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                y = tf.nn.conv2d(x, w, 1, "SAME")
            return tape.gradient(y, [x, w], output_gradients=y)

        rates[f"conv 3x3 256ch 4x60x80 forward {dtype.name}"] = _rate(lambda: forward().numpy(), conv_flops)
        rates[f"conv 3x3 256ch 4x60x80 fwd+bwd {dtype.name}"] = _rate(
            lambda: [t.numpy() for t in forward_backward()], 3 * conv_flops
        )
    return {"rates": rates}


def conv_rate(rates, spec):
    """The best convolution rate (GFLOP/s, from `measure()`) for a workload `spec` of
    `bench/workloads.py`: forward+backward for training, forward for inference, in its dtype."""
    dtype = "bfloat16" if "bfloat16" in spec["precision"] else "float32"
    direction = "fwd+bwd" if spec["kind"] in ("segmenter train", "generator fwd+bwd") else "forward"
    return rates[f"conv 3x3 256ch 4x60x80 {direction} {dtype}"]


def main():
    print("| kernel | GFLOP/s |")
    print("|---|---|")
    for name, rate in measure()["rates"].items():
        print(f"| {name} | {rate:.0f} |")


if __name__ == "__main__":
    main()
