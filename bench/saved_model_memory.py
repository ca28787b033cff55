"""Where a loaded SavedModel's memory goes: graph sizes in the file, RSS by phase in a fresh process.

    python bench/saved_model_memory.py                          # RefineNet-101 RGB-D, float32 and bf16
    python bench/saved_model_memory.py --precision mixed_bfloat16 --calls 5

Exports RefineNet-101 RGB-D as `cenkeras export` does (every signature),
lists the functions of the file by graph size (`tf.saved_model.load` builds
a graph for each, whether called or not), then loads it in a fresh process
and prints its RSS after importing TensorFlow (with the library pages given
back, as the `cenkeras` commands do), after each step of loading (the
functions' graphs built, the variables restored), and after each
`serving_labels` call on a 480x640 RGB-D pair; peak RSS last. The same
export, checked out at two revisions, shows what a change to the export or
the layers did to a served model's memory.
"""

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import timing
from children import run_child
from machine import platform_cpu

HERE = Path(__file__).resolve().parent
GB = 1e9


def child(request):
    sys.path.insert(0, str(HERE))
    if request["mode"] == "export":
        from bench_models import export_saved_model

        export_saved_model(request)
        result = {"functions": function_sizes(request["path"])}
    else:
        result = {"phases": load_and_call(request["path"], request["calls"])}
    print("RESULT " + json.dumps(result), flush=True)


def function_sizes(path):
    """[(function name, graph nodes)] of the SavedModel at `path`, largest first."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(path) / "saved_model.pb").read_bytes())
    library = saved.meta_graphs[0].graph_def.library
    return sorted(((f.signature.name, len(f.node_def)) for f in library.function), key=lambda row: -row[1])


@contextlib.contextmanager
def loading_steps_recorded(phases, resident_bytes):
    """Appends the RSS after each step of `tf.saved_model.load` worth telling apart: building the
    graphs of the file's functions, and restoring the variables. These are TensorFlow's private
    functions: where a TensorFlow version renames them, the load is recorded whole."""
    from tensorflow.python.saved_model import function_deserialization, load

    steps = [
        (function_deserialization, "load_function_def_library", "  graphs of the functions built"),
        (load.Loader, "_restore_checkpoint", "  objects made, variables restored"),
    ]
    steps = [step for step in steps if hasattr(step[0], step[1])]
    originals = [getattr(owner, name) for owner, name, _ in steps]

    def recording(original, phase):
        def step(*args, **kwargs):
            result = original(*args, **kwargs)
            phases.append((phase, resident_bytes()["VmRSS"]))
            return result

        return step

    for (owner, name, phase), original in zip(steps, originals):
        setattr(owner, name, recording(original, phase))
    try:
        yield
    finally:
        for (owner, name, _), original in zip(steps, originals):
            setattr(owner, name, original)


def load_and_call(path, calls):
    """[(phase, RSS bytes)] of loading the SavedModel at `path` and calling `serving_labels`."""
    import time

    from cenkeras.utils.memory import load_tensorflow_lean, resident_bytes

    load_tensorflow_lean()
    import tensorflow as tf
    from workloads import raw_rgbd

    phases = [("TensorFlow imported, pages given back", resident_bytes()["VmRSS"])]
    with loading_steps_recorded(phases, resident_bytes):
        loaded = tf.saved_model.load(path)
    phases.append(("SavedModel loaded", resident_bytes()["VmRSS"]))
    serve = loaded.signatures["serving_labels"]
    images = raw_rgbd(480, 640)
    for index in range(calls):
        start = time.perf_counter()
        serve(**images)["ensemble_labels"].numpy()
        seconds = time.perf_counter() - start
        phases.append((f"call {index + 1} ({seconds:.2f} s)", resident_bytes()["VmRSS"]))
    phases.append(("peak", timing.peak_rss_bytes()))
    return phases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16"], action="append")
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    print(f"Measuring on {platform_cpu()}\n", flush=True)
    script = Path(__file__).resolve()
    for precision in args.precision or ["float32", "mixed_bfloat16"]:
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / precision)
            functions = run_child(script, {"mode": "export", "precision": precision, "path": path}, 1800)["functions"]
            size = (Path(path) / "saved_model.pb").stat().st_size
            phases = run_child(script, {"mode": "load", "path": path, "calls": args.calls}, 1800)["phases"]
        large = [(name, nodes) for name, nodes in functions if nodes >= 1000]
        print(f"RefineNet-101 RGB-D SavedModel, {precision}: saved_model.pb {size / 1e6:.1f} MB, ", end="")
        print(f"{len(functions)} functions, {sum(n for _, n in functions)} graph nodes\n")
        print("| function (>= 1000 nodes) | graph nodes |")
        print("|---|---|")
        for name, nodes in large:
            print(f"| {name} | {nodes} |")
        print("\n| phase | RSS GB |")
        print("|---|---|")
        for phase, rss in phases:
            print(f"| {phase} | {rss / GB:.3f} |")
        print(flush=True)


if __name__ == "__main__":
    main()
