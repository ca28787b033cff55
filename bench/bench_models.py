"""cenkeras performance on this machine, side by side with the official code in the same run.

    python bench/bench_models.py                          # cenkeras only (~15 min on 2 cores)
    python bench/bench_models.py --official /path/to/CEN  # and the official code (~35 min)
    python bench/bench_models.py --quick                  # one round, 2 timed calls, no pair ratios
    python bench/bench_models.py --json results.json
    python bench/bench_models.py --tables results.json    # print a saved run's tables again

Every measurement is a fresh child process (so its peak RSS is its own):
full-size models with random weights, warm-up calls, then timed calls.
Workloads: RefineNet-101 RGB-D train step of the segmentation trainer
(batch 2, 240x320, frozen BN, cross-entropy at label size on the three
outputs + L1, two SGD optimizers); the exported TF Serving SavedModel on one
480x640 RGB-D image (uint8/uint16 in, labels out); the U-Net-256 generator
(2 inputs) forward+backward and inference; and the tf.data training pipeline
on 480x640 PNGs at the official augmentation.

With `--official` (`make bench OFFICIAL_CEN=/path/to/CEN`), each workload is
also run by the official PyTorch code, imported from that checkout at run
time (`bench/official_cen.py`; torch from the `torch` extra), and the two
sides alternate round by round (cenkeras, official, cenkeras, official...),
so machine drift hits both alike. "speed-up" = official median / cenkeras
median; the goals of issue 21 are ratios and peak RSS against the official
code in the same run. Without the checkout the official columns say "not
measured": figures from another machine do not carry over.

GFLOP/s is the convolution work (2 x multiply-adds, counted from the traced
graph; training = 3x forward) per second. "floor" is that work at the best
rate this machine's cores reached on RefineNet's main convolution alone
(`bench/ceiling.py`): a practical lower bound for any direct-convolution
implementation of the same network here. The pair ratios are measured inside
one child, the two variants' calls alternating. Defaults of the models here:
stacked streams, affine frozen norms.
"""

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import timing
from ceiling import conv_rate
from children import run_child
from machine import platform_cpu

HERE = Path(__file__).resolve().parent
GB = 1e9

TRAIN = {"kind": "segmenter train", "batch": 2, "size": (240, 320)}
SAVED = {"kind": "SavedModel inference", "size": (480, 640)}
GEN_TRAIN = {"kind": "generator fwd+bwd"}
GEN_INFER = {"kind": "generator inference"}

# (spec, goal speed-up over the official code, goal: peak RSS at or under the official code's)
ROWS = [
    ({**TRAIN, "precision": "float32"}, 1.5, True),
    ({**TRAIN, "precision": "mixed_bfloat16"}, 2.0, True),
    ({**SAVED, "precision": "float32"}, None, True),
    ({**SAVED, "precision": "mixed_bfloat16"}, 3.5, True),
    ({**GEN_TRAIN, "precision": "float32"}, None, False),
    ({**GEN_TRAIN, "precision": "mixed_bfloat16"}, None, False),
    ({**GEN_INFER, "precision": "float32"}, None, True),
    ({**GEN_INFER, "precision": "mixed_bfloat16"}, 2.0, True),
]

BF16_TRAIN = {**TRAIN, "precision": "mixed_bfloat16"}
# (name, numerator spec, denominator spec, goal: ratio <= goal)
PAIRS = [
    (
        "exchange on / off (train, bf16)",
        {**BF16_TRAIN, "options": {"exchange": {"scope": "all"}}},
        {**BF16_TRAIN, "options": {"exchange": {"scope": None}}},
        1.01,
    ),
    ("M=3 / M=2 (train, bf16)", {**BF16_TRAIN, "modalities": 3}, {**BF16_TRAIN, "modalities": 2}, 1.5),
    ("float32 / mixed_bfloat16 (train)", {**TRAIN, "precision": "float32"}, BF16_TRAIN, None),
    ("per-stream / stacked (train, bf16)", {**BF16_TRAIN, "options": {"stack_streams": False}}, BF16_TRAIN, None),
    (
        "Keras BN / affine frozen norms (train, bf16)",
        {**BF16_TRAIN, "options": {"affine_inference": False}},
        BF16_TRAIN,
        None,
    ),
]


def child(request):
    """Runs in the child process: one measurement, printed as a JSON line."""
    sys.path.insert(0, str(HERE))
    if request["mode"] == "official":  # no TensorFlow in this process: its peak RSS is torch's alone
        import official_cen

        fn = official_cen.build(request["root"], request["spec"])
        (times,) = timing.time_calls([fn], request["warmup"], request["repeats"])
        result = {"runs": [{**timing.summary(times), "times": times}]}
    elif request["mode"] == "export":
        result = export_saved_model(request)
    elif request["mode"] == "ceiling":
        import ceiling

        result = ceiling.measure()
    elif request["mode"] == "pipeline":
        import bench_pipeline

        result = bench_pipeline.measure(samples=24, batch=6, batches=12)
    else:
        from cenkeras.utils.memory import load_tensorflow_lean

        load_tensorflow_lean()  # as the `cenkeras` commands that run a model do
        import workloads

        built = [workloads.build(spec) for spec in request["specs"]]
        fns = [fn for fn, _ in built]
        times = timing.time_calls(fns, request["warmup"], request["repeats"], finish=workloads.wait_for)
        peak_rss = timing.peak_rss_bytes()  # before counting FLOPs, which traces another graph
        result = {"runs": [{**timing.summary(t), "times": t, "flops": count()} for t, (_, count) in zip(times, built)]}
        result["peak_rss"] = peak_rss
    result.setdefault("peak_rss", timing.peak_rss_bytes())
    print("RESULT " + json.dumps(result), flush=True)


def export_saved_model(request):
    import workloads
    from cenkeras.config import Recipe
    from cenkeras.data.pipeline import preprocessors
    from cenkeras.serving.export import SegmentationServing, serving_policy
    from cenkeras.models import build_refinenet

    import tensorflow as tf

    with serving_policy(request["precision"]):
        model = build_refinenet(101, 40, ["rgb", "depth"], stack_streams=True)
    flops = workloads.conv_flops(model, {"rgb": (1, 480, 640, 3), "depth": (1, 480, 640, 3)})
    module = SegmentationServing(model, preprocessors(Recipe().data))
    tf.saved_model.save(module, request["path"], signatures=module.signatures())  # as `cenkeras export`
    return {"flops": flops}


def measure(request, timeout=1800):
    return run_child(Path(__file__).resolve(), request, timeout)


def measure_rounds(spec, rounds, warmup, repeats, official):
    """The row's cenkeras and official figures, the two sides' children alternating round by round.

    Times pool every timed call of every round; the peak RSS is the largest of the rounds.
    """
    sides = {"cenkeras": [], "official": []}
    for _ in range(rounds):
        sides["cenkeras"].append(measure({"mode": "time", "specs": [spec], "warmup": warmup, "repeats": repeats}))
        if official:
            request = {"mode": "official", "root": str(official), "spec": spec, "warmup": warmup}
            sides["official"].append(measure({**request, "repeats": repeats}))
    row = {"spec": spec, "flops": sides["cenkeras"][0]["runs"][0]["flops"]}
    for side, results in sides.items():
        if results:
            times = [t for result in results for t in result["runs"][0]["times"]]
            row[side] = {**timing.summary(times), "peak_rss": max(result["peak_rss"] for result in results)}
    return row


def check_official(path):
    """The official checkout and torch, or a one-line SystemExit saying what is missing."""
    import official_cen

    try:
        root = official_cen.check_checkout(path)
    except ValueError as error:
        raise SystemExit(f"bench: {error}") from None
    if importlib.util.find_spec("torch") is None:
        raise SystemExit("bench: measuring the official code needs torch: pip install -e '.[torch]'")
    return root


def label(spec):
    return (
        f"{spec['kind']} "
        + {
            "segmenter train": "b2 240x320",
            "SavedModel inference": "b1 480x640",
            "generator fwd+bwd": "b1 256",
            "generator inference": "b1 256",
        }[spec["kind"]]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--official",
        metavar="PATH",
        default=os.environ.get("OFFICIAL_CEN") or None,
        help="A checkout of https://github.com/yikaiw/CEN, measured in the same run (default: $OFFICIAL_CEN).",
    )
    parser.add_argument("--quick", action="store_true", help="One round of 2 timed calls, no pair ratios.")
    parser.add_argument("--rounds", type=int, default=2, help="Children per side and workload, alternating.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls per child.")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", help="Also write the measurements to this file.")
    parser.add_argument(
        "--tables", metavar="JSON", help="Print the tables of a file written by --json; measure nothing."
    )
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    if args.tables:
        saved = {"setup": "", **json.loads(Path(args.tables).read_text())}
        return print_tables(**{key: saved[key] for key in ("cpu", "rows", "pipeline", "ratios", "ceiling", "setup")})
    official = check_official(args.official) if args.official else None
    rounds, repeats = (1, 2) if args.quick else (args.rounds, args.repeats)
    print(f"Measuring on {platform_cpu()}" + (f"; the official code from {official}" if official else ""))

    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as folder:
        exported = {}
        for precision in ("float32", "mixed_bfloat16"):
            path = str(Path(folder) / precision)
            exported[precision] = {"path": path, **measure({"mode": "export", "precision": precision, "path": path})}
            print(f"  exported the {precision} SavedModel", flush=True)
        for spec, speed_goal, rss_goal in ROWS:
            if spec["kind"] == "SavedModel inference":
                spec = {**spec, **exported[spec["precision"]]}
            row = measure_rounds(spec, rounds, args.warmup, repeats, official)
            rows.append({**row, "speed_goal": speed_goal, "rss_goal": rss_goal})
            print(f"  measured {label(spec)} {spec['precision']}", flush=True)
        pipeline = measure({"mode": "pipeline"})
        print("  measured the input pipeline", flush=True)
        ceiling = measure({"mode": "ceiling"})["rates"]
        print("  measured the convolution ceiling", flush=True)
        if not args.quick:
            for name, numerator, denominator, goal in PAIRS:
                result = measure(
                    {"mode": "time", "specs": [numerator, denominator], "warmup": args.warmup, "repeats": 4}
                )
                a, b = result["runs"]
                ratios.append(
                    {"name": name, "a": a["median"], "b": b["median"], "ratio": a["median"] / b["median"], "goal": goal}
                )
                print(f"  measured {name}", flush=True)

    results = {
        "cpu": platform_cpu(),
        "rows": rows,
        "pipeline": pipeline,
        "ratios": ratios,
        "ceiling": ceiling,
        "setup": f"per side {rounds} round(s) of {repeats} timed calls after {args.warmup} warm-up",
    }
    print_tables(**results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def verdict(value, goal):
    if goal is None:
        return ""
    return "yes" if value <= goal else "NO"


def floor_seconds(row, ceiling):
    """The row's convolution FLOPs at this machine's best measured convolution rate."""
    return row["flops"] / (conv_rate(ceiling, row["spec"]) * 1e9)


def goal_cells(row):
    """(official s, official peak RSS, speed-up, goals, met) cells of one row of the table."""
    ours, theirs = row["cenkeras"], row.get("official")
    goals = ([f">= {row['speed_goal']}x"] if row["speed_goal"] else []) + (
        ["RSS <= official"] if row["rss_goal"] else []
    )
    if theirs is None:
        return "not measured", "not measured", "", ", ".join(goals), "not measured" if goals else ""
    speed_up = theirs["median"] / ours["median"]
    met = []
    if row["speed_goal"]:
        met.append("yes" if speed_up >= row["speed_goal"] else "NO")
    if row["rss_goal"]:
        met.append("RSS " + ("yes" if ours["peak_rss"] <= theirs["peak_rss"] else "NO"))
    return (
        f"{theirs['median']:.3f}",
        f"{theirs['peak_rss'] / GB:.2f}",
        f"{speed_up:.2f}x",
        ", ".join(goals),
        ", ".join(met),
    )


def print_tables(cpu, rows, pipeline, ratios, ceiling, setup):
    print(f"\nRefineNet-101 RGB-D / U-Net-256 (2 inputs); {cpu}; {setup}, each round a fresh process\n")
    print(
        "| workload | precision | median s | min s | max s | GFLOP/s | floor s | peak RSS GB | official s "
        "| official peak RSS GB | speed-up | speed-up at the floor | goal | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        spec, ours = row["spec"], row["cenkeras"]
        official, official_rss, speed_up, goal, met = goal_cells(row)
        floor = floor_seconds(row, ceiling)
        at_floor = f"{row['official']['median'] / floor:.2f}x" if "official" in row else ""
        print(
            f"| {label(spec)} | {spec['precision']} | {ours['median']:.3f} | {ours['min']:.3f} | "
            f"{ours['max']:.3f} | {row['flops'] / ours['median'] / 1e9:.0f} | {floor:.2f} | "
            f"{ours['peak_rss'] / GB:.2f} | {official} | {official_rss} | {speed_up} | {at_floor} | {goal} | {met} |"
        )
    train = next(
        r for r in rows if r["spec"]["kind"] == "segmenter train" and r["spec"]["precision"] == "mixed_bfloat16"
    )
    consumed = train["spec"]["batch"] / train["cenkeras"]["median"]
    print("\n| input pipeline (480x640 PNG) | images/s | x what bf16 training consumes | goal | met |")
    print("|---|---|---|---|---|")
    for name, rate in pipeline["rates"].items():
        goal = ">= 5x" if name.startswith("train") else ""
        met = ("yes" if rate >= 5 * consumed else "NO") if goal else ""
        print(f"| {name} | {rate:.1f} | {rate / consumed:.0f}x | {goal} | {met} |")
    print("\n| this machine's ceiling (bench/ceiling.py) | GFLOP/s |")
    print("|---|---|")
    for name, rate in ceiling.items():
        print(f"| {name} | {rate:.0f} |")
    if ratios:
        print("\n| same-run ratio | numerator s | denominator s | ratio | goal | met |")
        print("|---|---|---|---|---|---|")
        for r in ratios:
            goal = f"<= {r['goal']}" if r["goal"] else ""
            print(
                f"| {r['name']} | {r['a']:.3f} | {r['b']:.3f} | {r['ratio']:.3f} | {goal} | "
                f"{verdict(r['ratio'], r['goal'])} |"
            )


if __name__ == "__main__":
    main()
