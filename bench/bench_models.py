"""cenkeras performance on this machine, against the official code and the goals of issue 6.

    python bench/bench_models.py            # everything, one table (~15 min on 2 cores)
    python bench/bench_models.py --quick    # fewer repeats, no same-run ratios
    python bench/bench_models.py --json results.json

Every row is measured in a fresh child process (so its peak RSS is its own):
full-size models with random weights, warm-up calls, then timed calls.
Workloads: RefineNet-101 RGB-D train step (batch 2, 240x320, frozen BN,
cross-entropy on the three outputs + L1, two SGD optimizers); the exported
TF Serving SavedModel on one 480x640 RGB-D image (uint8/uint16 in, labels
out); the U-Net-256 generator (2 inputs) forward+backward and inference; and
the tf.data training pipeline on 480x640 PNGs at the official augmentation.
The same-run ratios are measured inside one child, the two variants' calls
alternating, so machine drift hits both alike.

GFLOP/s is the convolution work (2 x multiply-adds, counted from the traced
graph; training = 3x forward) per second. "floor" is that work at the best
rate this machine's cores reached on RefineNet's main convolution alone
(`bench/ceiling.py`): a practical lower bound for any direct-convolution
implementation of the same network here. "official" is the official PyTorch
code's time on the reference machine (issue 6); "speed-up" = official / ours.
Defaults of the models here: stacked streams, affine frozen norms.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from children import run_child

HERE = Path(__file__).resolve().parent
GB = 1e9

TRAIN = {"kind": "segmenter train", "batch": 2, "size": (240, 320)}
SAVED = {"kind": "SavedModel inference", "size": (480, 640)}
GEN_TRAIN = {"kind": "generator fwd+bwd"}
GEN_INFER = {"kind": "generator inference"}

# (spec, official seconds, goal seconds, goal peak RSS in GB)
ROWS = [
    ({**TRAIN, "precision": "float32"}, 8.6, 6.0, None),
    ({**TRAIN, "precision": "mixed_bfloat16"}, 3.7, 1.9, 4.0),
    ({**SAVED, "precision": "float32"}, 5.7, 4.5, None),
    ({**SAVED, "precision": "mixed_bfloat16"}, 3.5, 0.9, 1.6),
    ({**GEN_TRAIN, "precision": "float32"}, 0.68, None, None),
    ({**GEN_TRAIN, "precision": "mixed_bfloat16"}, 0.68, 0.25, None),
    ({**GEN_INFER, "precision": "float32"}, 0.24, None, None),
    ({**GEN_INFER, "precision": "mixed_bfloat16"}, 0.24, 0.08, None),
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
    import workloads

    if request["mode"] == "export":
        result = export_saved_model(request)
    elif request["mode"] == "ceiling":
        import ceiling

        result = ceiling.measure()
    elif request["mode"] == "pipeline":
        import bench_pipeline

        result = bench_pipeline.measure(samples=24, batch=6, batches=12)
    else:
        built = [workloads.build(spec) for spec in request["specs"]]
        times = workloads.time_calls([fn for fn, _ in built], request["warmup"], request["repeats"])
        peak_rss = workloads.peak_rss_bytes()  # before counting FLOPs, which traces another graph
        result = {"runs": [{**workloads.summary(t), "flops": count()} for t, (_, count) in zip(times, built)]}
        result["peak_rss"] = peak_rss
    result.setdefault("peak_rss", workloads.peak_rss_bytes())
    print("RESULT " + json.dumps(result), flush=True)


def export_saved_model(request):
    import workloads
    from cenkeras.config import Recipe
    from cenkeras.data.pipeline import preprocessors
    from cenkeras.export import SegmentationServing, serving_policy
    from cenkeras.models import build_refinenet

    import tensorflow as tf

    with serving_policy(request["precision"]):
        model = build_refinenet(101, 40, ["rgb", "depth"], stack_streams=True)
    flops = workloads.conv_flops(model, {"rgb": (1, 480, 640, 3), "depth": (1, 480, 640, 3)})
    module = SegmentationServing(model, preprocessors(Recipe().data))
    tf.saved_model.save(module, request["path"], signatures={"serving_default": module.serve})
    return {"flops": flops}


def measure(request, timeout=1800):
    return run_child(Path(__file__).resolve(), request, timeout)


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


def verdict(value, goal):
    if goal is None:
        return ""
    return "yes" if value <= goal else "NO"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 timed calls per row, no same-run ratios.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", help="Also write the measurements to this file.")
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    repeats = 2 if args.quick else args.repeats

    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as folder:
        exported = {}
        for precision in ("float32", "mixed_bfloat16"):
            path = str(Path(folder) / precision)
            exported[precision] = {"path": path, **measure({"mode": "export", "precision": precision, "path": path})}
            print(f"  exported the {precision} SavedModel", flush=True)
        for spec, official, goal, rss_goal in ROWS:
            if spec["kind"] == "SavedModel inference":
                spec = {
                    **spec,
                    "path": exported[spec["precision"]]["path"],
                    "flops": exported[spec["precision"]]["flops"],
                }
            result = measure({"mode": "time", "specs": [spec], "warmup": args.warmup, "repeats": repeats})
            rows.append(
                {
                    "spec": spec,
                    "official": official,
                    "goal": goal,
                    "rss_goal": rss_goal,
                    **result["runs"][0],
                    "peak_rss": result["peak_rss"],
                }
            )
            print(f"  measured {label(spec)} {spec['precision']}", flush=True)
        pipeline = measure({"mode": "pipeline"})
        print("  measured the input pipeline", flush=True)
        ceiling = measure({"mode": "ceiling"})["rates"]
        print("  measured the convolution ceiling", flush=True)
        if not args.quick:
            for name, numerator, denominator, goal in PAIRS:
                result = measure(
                    {
                        "mode": "time",
                        "specs": [numerator, denominator],
                        "warmup": args.warmup,
                        "repeats": max(3, repeats + 1),
                    }
                )
                a, b = result["runs"]
                ratios.append(
                    {"name": name, "a": a["median"], "b": b["median"], "ratio": a["median"] / b["median"], "goal": goal}
                )
                print(f"  measured {name}", flush=True)

    print_tables(rows, pipeline, ratios, ceiling, repeats, args.warmup)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "pipeline": pipeline, "ratios": ratios, "ceiling": ceiling}, indent=1)
        )


def floor_seconds(row, ceiling):
    """The row's convolution FLOPs at this machine's best measured convolution rate."""
    spec = row["spec"]
    dtype = "bfloat16" if "bfloat16" in spec["precision"] else "float32"
    direction = "fwd+bwd" if spec["kind"] in ("segmenter train", "generator fwd+bwd") else "forward"
    return row["flops"] / (ceiling[f"conv 3x3 256ch 4x60x80 {direction} {dtype}"] * 1e9)


def print_tables(rows, pipeline, ratios, ceiling, repeats, warmup):
    print(
        f"\nRefineNet-101 RGB-D / U-Net-256 (2 inputs); {repeats} timed calls after {warmup} warm-up; "
        f"{os.cpu_count()} CPU threads\n"
    )
    print(
        "| workload | precision | median s | min s | max s | GFLOP/s | floor s | peak RSS GB | official s "
        "| speed-up | goal s | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        spec = row["spec"]
        rss = f"{row['peak_rss'] / GB:.2f}"
        met = verdict(row["median"], row["goal"])
        if row["rss_goal"] is not None:
            rss += f" (goal {row['rss_goal']})"
            met = (met + ", RSS " + verdict(row["peak_rss"] / GB, row["rss_goal"])).strip(", ")
        print(
            f"| {label(spec)} | {spec['precision']} | {row['median']:.3f} | {row['min']:.3f} | "
            f"{row['max']:.3f} | {row['flops'] / row['median'] / 1e9:.0f} | {floor_seconds(row, ceiling):.2f} | "
            f"{rss} | {row['official']} | "
            f"{row['official'] / row['median']:.2f}x | {row['goal'] or ''} | {met} |"
        )
    train = next(
        r for r in rows if r["spec"]["kind"] == "segmenter train" and r["spec"]["precision"] == "mixed_bfloat16"
    )
    consumed = train["spec"]["batch"] / train["median"]
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
