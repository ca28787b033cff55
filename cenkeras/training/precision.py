"""Which Keras dtype policy a run uses: `precision = "auto"` picks the fastest safe one.

Measured with `bench/bench_models.py` on a 2-core AVX-512-BF16 CPU: a
RefineNet-101 RGB-D train step is ~2x faster under `mixed_bfloat16` than in
float32 (oneDNN runs bf16 convolutions on the BF16 dot-product units), and
inference ~2.5x. bfloat16 keeps float32's exponent range, so it needs no
loss scaling; GPUs from Ampere (compute capability 8.0) on run it on their
tensor cores at the float16 rate. Older GPUs and CPUs without bf16
instructions stay in float32.
"""

import contextlib
from pathlib import Path

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
# x86 flags of CPUs with bfloat16 dot-product instructions (AVX512-BF16, AMX).
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_supports_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU advertises bfloat16 dot products (Linux /proc/cpuinfo flags)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            flags.update(line.split(":", 1)[1].split())
    return any(flag in flags for flag in _CPU_BF16_FLAGS)


def gpu_supports_bfloat16():
    """True when every visible GPU has compute capability >= 8.0 (bf16 tensor cores); None without GPUs."""
    import tensorflow as tf  # here, so that recipes can be checked without loading TensorFlow

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    capabilities = [tf.config.experimental.get_device_details(g).get("compute_capability") for g in gpus]
    return all(c is not None and tuple(c) >= (8, 0) for c in capabilities)


def resolve_precision(precision):
    """The Keras dtype policy name for a recipe's `train.precision`.

    Examples:
        >>> resolve_precision("float32")
        'float32'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}.")
    if precision != "auto":
        return precision
    on_gpu = gpu_supports_bfloat16()
    fast_bf16 = on_gpu if on_gpu is not None else cpu_supports_bfloat16()
    return "mixed_bfloat16" if fast_bf16 else "float32"


@contextlib.contextmanager
def keras_policy(name):
    """Models built inside use the Keras dtype policy `name`; the previous global policy comes back after."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
