"""Where a benchmark workload's time goes: TensorFlow's profiler, op types ranked by time.

    python bench/profile_step.py                                   # bf16 RefineNet-101 train step
    python bench/profile_step.py --kind "generator inference" --precision float32

Builds the workload exactly as `bench/bench_models.py` times it
(`bench/workloads.py`), warms it up, then records `--steps` calls with
`tf.profiler.experimental` and reads the trace it writes (the XSpace
protobuf TensorFlow ships): every op the executor ran, grouped by op type
(oneDNN's kernels are `_MklNative*`), with its time per step summed over
the executor's threads, its share, and the convolution work it did where it
is a convolution. The table answers "is the step the convolutions or the
rest?", with the measured convolution ceiling (`bench/ceiling.py`) beside
the convolutions' achieved rate.
"""

import argparse
import collections
import glob
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def read_trace(trace_folder):
    """The XSpace protobuf of the last profile written under `trace_folder`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(f"{trace_folder}/plugins/profile/*/*.xplane.pb"))[-1]
    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(path).read_bytes())
    return space


def op_times(trace_folder):
    """`{op type: total picoseconds}` over the executor threads of the host plane of a profile."""
    totals = collections.Counter()
    for plane in read_trace(trace_folder).planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                op_type = plane.event_metadata[event.metadata_id].display_name
                if op_type:  # executor bookkeeping events have none
                    totals[op_type] += event.duration_ps
    return totals


def is_convolution(op_type):
    """oneDNN's convolution kernels (`_MklNativeConv2DBackpropFilterWithBias`, `_MklNativeFusedConv2D`...)
    and TensorFlow's own."""
    return "Conv2D" in op_type


def table_spec(kind, precision):
    """The workload spec `bench/bench_models.py` times for `kind` (the segmenter at the table's shape)."""
    import bench_models

    spec = {"kind": kind, "precision": precision}
    if kind.startswith("segmenter"):
        spec.update({key: bench_models.TRAIN[key] for key in ("batch", "size")})
    return spec


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="segmenter train", help="A workload of bench/workloads.py.")
    parser.add_argument("--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from cenkeras.utils.memory import load_tensorflow_lean

    load_tensorflow_lean()
    import ceiling
    import tensorflow as tf
    import workloads
    from machine import platform_cpu

    spec = table_spec(args.kind, args.precision)
    fn, count_flops = workloads.build(spec)
    for _ in range(2):
        workloads.wait_for(fn())
    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        start = time.perf_counter()
        for _ in range(args.steps):
            workloads.wait_for(fn())
        wall = (time.perf_counter() - start) / args.steps
        tf.profiler.experimental.stop()
        totals = op_times(folder)
    flops = count_flops()  # 3x the forward convolutions for training
    rates = ceiling.measure()["rates"]

    seconds = {op: ps / 1e12 / args.steps for op, ps in totals.items()}
    busy = sum(seconds.values())
    conv_seconds = sum(s for op, s in seconds.items() if is_convolution(op))
    print(f"\n{args.kind}, {args.precision}; {platform_cpu()}; {args.steps} profiled steps")
    # Two ops may run at once (inter-op threads), each on the shared cores: op time can exceed wall time.
    print(f"wall {wall:.3f} s per step; op time {busy:.3f} s per step summed over the executor's threads\n")
    print("| op type | s per step | share of op time |")
    print("|---|---|---|")
    for op, s in sorted(seconds.items(), key=lambda item: -item[1])[: args.top]:
        print(f"| {op} | {s:.3f} | {100 * s / busy:.1f}% |")
    best = ceiling.conv_rate(rates, spec)
    print(
        f"\nconvolutions: {conv_seconds:.3f} s per step ({100 * conv_seconds / busy:.0f}% of op time), "
        f"{flops / conv_seconds / 1e9:.0f} GFLOP/s of op time; this machine's best convolution rate "
        f"(bench/ceiling.py): {best:.0f} GFLOP/s, at which they would take {flops / best / 1e9:.3f} s; "
        f"everything else: {busy - conv_seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
