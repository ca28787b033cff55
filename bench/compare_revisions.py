"""Is the working tree slower than an earlier revision? Same workloads, both trees, alternating.

    python bench/compare_revisions.py a12cf4a                       # segmenter train step, float32
    python bench/compare_revisions.py a12cf4a --workload generator-train --rounds 3

A refactor that must not change speed is checked here rather than by reading
two `make bench` tables from different hours: the machine drifts more than
the change being looked for. The revision is checked out into a temporary git
worktree; each measurement is a fresh child process of that tree's own
`bench/bench_models.py --child` (so each side times its own code with its own
workload definitions), and the children run in ABBA order (base, head, head,
base per round), so a slow drift of the machine hits both sides alike. The
verdict is the ratio of the medians over all timed calls, head / base.

Timings on a shared 2-core machine scatter by several percent; the traced
graphs do not. Before timing, both trees trace the workload and the op types
of the whole graph (nested functions included) are counted, and the graphs
TensorFlow runs for one call (after Grappler) are compared node by node,
without their names: identical graphs run the same computation, whatever
the timings say (`--rounds 0` compares the graphs only).
"""

import argparse
import difflib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import platform_cpu

REPO = Path(__file__).resolve().parent.parent

WORKLOADS = {
    "segmenter-train": {"kind": "segmenter train", "batch": 2, "size": [240, 320], "precision": "float32"},
    "segmenter-train-bf16": {"kind": "segmenter train", "batch": 2, "size": [240, 320], "precision": "mixed_bfloat16"},
    "generator-train": {"kind": "generator fwd+bwd", "precision": "float32"},
    "generator-inference": {"kind": "generator inference", "precision": "float32"},
    "generator-inference-bf16": {"kind": "generator inference", "precision": "mixed_bfloat16"},
}


def time_tree(tree, spec, warmup, repeats, timeout=3600):
    """Per-call seconds and the child's peak RSS of one workload, measured by `tree`'s own bench child
    on `tree`'s own package."""
    request = {"mode": "time", "specs": [spec], "warmup": warmup, "repeats": repeats}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(tree)}
    command = [sys.executable, str(tree / "bench" / "bench_models.py"), "--child", json.dumps(request)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tree)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            return {**result["runs"][0], "peak_rss": result["peak_rss"]}
    raise RuntimeError(f"the bench child of {tree} failed:\n{done.stderr[-3000:]}")


GRAPH_OPS = """
import collections, json, sys
sys.path.insert(0, "bench")
import workloads
from tensorflow.python.eager import context
fn, _ = workloads.build(json.loads(sys.argv[1]))
# Run metadata must be on before the first call: a function's graphs are recorded when it is instantiated.
context.enable_run_metadata()
fn()
run = context.export_run_metadata()
context.disable_run_metadata()
if hasattr(fn, "get_concrete_function"):
    concrete = [fn.get_concrete_function()]
else:  # a Python step around a tf.function (the train step): read what the call traced
    cells = [cell.cell_contents for cell in fn.__closure__ or ()]
    functions = [value for value in cells if hasattr(value, "get_concrete_function")]
    concrete = [c for function in functions for c in function._list_all_concrete_functions()]
counts = collections.Counter()
def walk(graph):
    for op in graph.get_operations():
        counts[op.type] += 1
    for function in graph._functions.values():
        walk(function.graph)
for function in concrete:
    walk(function.graph)
# The graphs TensorFlow ran, after Grappler, compared without their node names: each node's op
# type and the op types of its inputs (a leading ^ marks a control input), in the graph's order.
ran = []
for function_graphs in run.function_graphs:
    nodes = function_graphs.post_optimization_graph.node
    op_of = {node.name: node.op for node in nodes}
    for node in nodes:
        sources = [("^" if i.startswith("^") else "") + op_of.get(i.lstrip("^").split(":")[0], "?") for i in node.input]
        inputs = sorted(sources)
        ran.append(node.op + "(" + ",".join(inputs) + ")")
print("RESULT " + json.dumps({"traced": counts, "ran": ran}))
"""


def graph_ops(tree, spec, timeout=1800):
    """`{"traced": {op type: count}, "ran": [op type(input op types) per node]}` of the workload in `tree`:
    the graph its code traces, and the graphs TensorFlow ran for one call after Grappler's rewrites."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(tree)}
    command = [sys.executable, "-c", GRAPH_OPS, json.dumps(spec)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=tree)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"tracing in {tree} failed:\n{done.stderr[-3000:]}")


def describe_graphs(base, head):
    """One line on how the two sides' graphs differ, traced and as run."""
    traced = {side: graphs["traced"] for side, graphs in (("base", base), ("head", head))}
    differing = {
        op: (traced["base"].get(op, 0), traced["head"].get(op, 0))
        for op in sorted(set(traced["base"]) | set(traced["head"]))
        if traced["base"].get(op, 0) != traced["head"].get(op, 0)
    }
    line = (
        f"traced graphs: base {sum(traced['base'].values())} ops, head {sum(traced['head'].values())} ops; "
        f"op types differing (base, head): {differing or 'none'}"
    )
    if base["ran"] == head["ran"]:
        return line + f"\n  graphs run (after Grappler): identical up to node names, {len(head['ran'])} nodes each"
    kept = sum(
        block.size
        for block in difflib.SequenceMatcher(None, base["ran"], head["ran"], autojunk=False).get_matching_blocks()
    )
    return line + (
        f"\n  graphs run (after Grappler): base {len(base['ran'])} nodes, head {len(head['ran'])}; "
        f"{kept} match in order (op type and input op types)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="The git revision to compare the working tree against.")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="segmenter-train")
    parser.add_argument(
        "--rounds", type=int, default=2, help="ABBA rounds (each: 2 children per side); 0: the graphs only."
    )
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls per child.")
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    spec = WORKLOADS[args.workload]

    with tempfile.TemporaryDirectory() as folder:
        base_tree = Path(folder) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(base_tree), args.base], check=True)
        try:
            graphs = {side: graph_ops(tree, spec) for side, tree in (("base", base_tree), ("head", REPO))}
            print("  " + describe_graphs(graphs["base"], graphs["head"]), flush=True)
            times, peaks = {"base": [], "head": []}, {"base": [], "head": []}
            for round_index in range(args.rounds):
                for side in ("base", "head", "head", "base"):
                    tree = base_tree if side == "base" else REPO
                    run = time_tree(tree, spec, args.warmup, args.repeats)
                    times[side].append(run["median"])
                    peaks[side].append(run["peak_rss"] / 1e9)
                    print(
                        f"  round {round_index + 1} {side}: median {run['median']:.3f} s, "
                        f"peak RSS {peaks[side][-1]:.2f} GB",
                        flush=True,
                    )
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], check=False)

    if not args.rounds:
        return
    base, head = statistics.median(times["base"]), statistics.median(times["head"])
    cpu = platform_cpu()
    print(f"\n{args.workload} ({spec}); {args.rounds} ABBA rounds, {args.repeats} timed calls per child; {cpu}\n")
    print("| side | revision | child medians s | median s | peak RSS GB (median of children) |")
    print("|---|---|---|---|---|")
    for side, revision in (("base", args.base), ("head", "working tree")):
        median = statistics.median(times[side])
        peak = statistics.median(peaks[side])
        print(f"| {side} | {revision} | {', '.join(f'{t:.2f}' for t in times[side])} | {median:.3f} | {peak:.2f} |")
    print(f"\nhead / base = {head / base:.3f}")


if __name__ == "__main__":
    main()
