"""Where a benchmark workload's memory goes: TensorFlow's allocator at the peak of one call.

    python bench/step_memory.py                                    # bf16 RefineNet-101 train step
    python bench/step_memory.py --precision float32 --top 30
    python bench/step_memory.py --kind "generator inference"

Builds the workload as `bench/bench_models.py` times it, runs `--warmup`
calls, then records one call with TensorFlow's profiler at host tracer
level 3, which logs every allocation and deallocation of the CPU
allocator that holds the tensors of 256 KiB and more (oneDNN's `mklcpu`
BFC allocator; smaller ones go to malloc and are not listed). It prints
the process RSS beside the allocator's bytes in use at the start of the
call and at its peak, then the tensors allocated during the call that are
still alive at that peak, grouped by the top-level scope of the op that
allocated them (the model's forward pass, `gradient_tape`, each
optimizer) and op by op. A term computed long before it is used shows up
here: this is how the momentum products that Keras' SGD computed at the
start of the step were found (`cenkeras/tasks/updates.py`).

Caveat: TensorFlow lets an op write into a dying input's buffer, so a
buffer keeps the name of the op that first allocated it (a new momentum
slot can be listed as `sgd/Mul`).
"""

import argparse
import collections
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
GIB = 2**30


def allocator_events(trace_folder):
    """[(picoseconds, allocated: bool, stats dict)] of the profile's allocator events, in time order."""
    from profile_step import read_trace

    events = []
    for plane in read_trace(trace_folder).planes:
        names = plane.stat_metadata
        for line in plane.lines:
            for event in line.events:
                kind = plane.event_metadata[event.metadata_id].name
                if kind not in ("MemoryAllocation", "MemoryDeallocation"):
                    continue
                stats = {}
                for stat in event.stats:
                    which = stat.WhichOneof("value")
                    value = getattr(stat, which)
                    stats[names[stat.metadata_id].name] = names[value].name if which == "ref_value" else value
                events.append((line.timestamp_ns * 1000 + event.offset_ps, kind == "MemoryAllocation", stats))
    return sorted(events, key=lambda event: event[0])


def live_at_peak(events):
    """(bytes in use before the first event, at the peak, the allocations of the call alive at the peak)."""
    if not events:
        raise SystemExit("step_memory: the profile holds no allocator events (was the call profiled?)")
    first = events[0][2]
    start = first["bytes_allocated"] - (first["allocation_bytes"] if events[0][1] else -first["allocation_bytes"])
    peak_index = max(range(len(events)), key=lambda i: events[i][2]["bytes_allocated"])
    live = {}
    for _, allocated, stats in events[: peak_index + 1]:
        if allocated:
            live[stats["addr"]] = stats
        else:
            live.pop(stats["addr"], None)  # a buffer allocated before the call leaves nothing to remove
    return start, events[peak_index][2]["bytes_allocated"], list(live.values())


def scope_of(op_name):
    """The top-level scope of an op: the model's, `gradient_tape`, an optimizer's (`sgd_1`)."""
    return "gradient_tape" if "gradient_tape" in op_name else op_name.split("/")[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", default="segmenter train", help="A workload of bench/workloads.py.")
    parser.add_argument("--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16"])
    parser.add_argument("--warmup", type=int, default=2, help="Calls before the profiled one.")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from cenkeras.utils.memory import load_tensorflow_lean, resident_bytes

    load_tensorflow_lean()
    import tensorflow as tf
    import timing
    import workloads
    from machine import platform_cpu
    from profile_step import table_spec

    fn, _ = workloads.build(table_spec(args.kind, args.precision))
    for _ in range(args.warmup):
        workloads.wait_for(fn())
    rss_before = resident_bytes()["VmRSS"]
    with tempfile.TemporaryDirectory() as folder:
        options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=3)  # 3: allocator events too
        tf.profiler.experimental.start(folder, options=options)
        workloads.wait_for(fn())
        tf.profiler.experimental.stop()
        start, peak, live = live_at_peak(allocator_events(folder))

    print(f"\n{args.kind}, {args.precision}; {platform_cpu()}; call {args.warmup + 1}, profiled")
    alive = sum(stats["allocation_bytes"] for stats in live)
    print(f"RSS before the call {rss_before / GIB:.3f} GiB, process peak {timing.peak_rss_bytes() / GIB:.3f} GiB")
    print(f"allocator (tensors >= 256 KiB) in use: {start / GIB:.3f} GiB at the start, {peak / GIB:.3f} at the peak")
    print(f"allocated during the call and alive at the peak: {alive / GIB:.3f} GiB\n")
    by_scope, count = collections.Counter(), collections.Counter()
    by_op = collections.Counter()
    for stats in live:
        op = stats.get("tf_op", "?")
        by_scope[scope_of(op)] += stats["allocation_bytes"]
        count[scope_of(op)] += 1
        by_op[op] += stats["allocation_bytes"]
    print("| scope | MiB alive at the peak | tensors |")
    print("|---|---|---|")
    for scope, size in by_scope.most_common():
        print(f"| {scope} | {size / 2**20:.1f} | {count[scope]} |")
    print("\n| op | MiB alive at the peak |")
    print("|---|---|")
    for op, size in by_op.most_common(args.top):
        print(f"| {op} | {size / 2**20:.1f} |")


if __name__ == "__main__":
    main()
