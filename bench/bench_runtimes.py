"""Inference speed of the exported models in every runtime cenkeras exports to, on this machine.

    python bench/bench_runtimes.py              # both models, every runtime (~20 min on 2 cores)
    python bench/bench_runtimes.py --quick      # 2 timed calls per row
    python bench/bench_runtimes.py --only generator --json results.json

Models (random weights, full size, built from the recipes): RefineNet-101
RGB-D (`nyudv2_refinenet101`, 40 classes) on one 480x640 frame (uint8 RGB +
uint16 depth in, labels and probabilities out), and the U-Net-256 generator
with two inputs (`taskonomy_shade_texture_to_rgb`) on one 256x256 pair.
Each is exported once, as the users' `cenkeras export` does: the SavedModel
in float32 and in bf16 (the same weights), and the ONNX, LiteRT and
OpenVINO files of the float32 serving function (OpenVINO also with bf16
inference, `--precision mixed_bfloat16`).

Each row is measured in a fresh child process: load the file in its runtime,
one warm-up call, then timed calls of batch 1; the median is reported with
the child's peak RSS (load included). Every runtime's first output is
compared with the float32 SavedModel's ("parity"):
- float32 rows: the tolerance of `tests/tasks/test_export_formats.py`
  (labels equal on >= 99.9% of pixels and probabilities within 1e-4;
  generated images within 1 level on >= 99.9% of values, at most 2);
- bf16 rows: the tolerance of the bf16 export test (probabilities within
  0.05, labels equal on >= 95%; generated images: within 0.05 of the
  [-1, 1] range, i.e. 7 levels, on >= 95% of values).
OpenVINO int8 needs post-training quantisation on calibration images (NNCF),
which random weights cannot stand for; it is not measured here.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import timing
from children import run_child
from machine import platform_cpu

GB = 1e9

MODELS = {
    "segmenter": {"recipe": "nyudv2_refinenet101", "label": "RefineNet-101 RGB-D, 480x640", "size": (480, 640)},
    "generator": {"recipe": "taskonomy_shade_texture_to_rgb", "label": "U-Net-256 generator, 2 inputs, 256x256"},
}
# (runtime label, export folder, precision)
ROWS = [
    ("TF SavedModel", "saved_model-float32", "float32"),
    ("TF SavedModel", "saved_model-bfloat16", "bf16"),
    ("ONNX Runtime", "onnx", "float32"),
    ("OpenVINO", "openvino", "float32"),
    ("OpenVINO", "openvino-bf16", "bf16"),
    ("LiteRT", "litert", "float32"),
]
REFERENCE = "saved_model-float32"


def inputs_for(model, description):
    """Batch-1 raw inputs of the served model, the same in every child."""
    from cenkeras.layers.preprocessing import ModalityPreprocessor

    rng = np.random.default_rng(0)
    height, width = MODELS[model].get("size", (256, 256))
    images = {}
    for name, spec in description["inputs"].items():
        preprocessor = ModalityPreprocessor(**spec["preprocessor"])
        dtype = np.dtype(preprocessor.raw_dtype)
        high = 40000 if dtype == np.uint16 else 256
        images[name] = rng.integers(0, high, (1, height, width, preprocessor.raw_channels), dtype=dtype)
    return images


def export_models(model, folder):
    """Child: build the model, write every export under `folder`; returns the serving description."""
    import tensorflow as tf

    from cenkeras.serving.export import serving_policy
    from cenkeras.serving.export_formats import export_format
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.tasks import task_for

    recipe = load_recipe(MODELS[model]["recipe"])
    task = task_for(recipe)
    network = task.build_network(recipe)
    with serving_policy("mixed_bfloat16"):
        bf16_network = task.build_network(recipe)
    bf16_network.set_weights(network.get_weights())  # the same model, computed in bf16
    folder = Path(folder)
    for name, built in (("saved_model-float32", network), ("saved_model-bfloat16", bf16_network)):
        serving = task.serving_module(built, recipe)
        tf.saved_model.save(serving, str(folder / name), signatures={"serving_default": serving.serve})
    serving = task.serving_module(network, recipe)
    # As `cenkeras export --format F [--precision mixed_bfloat16]` writes them (OpenVINO's bf16 is its
    # inference precision, recorded in the metadata; the file is the float32 one).
    for name, format, precision in (
        ("onnx", "onnx", "float32"),
        ("openvino", "openvino", "float32"),
        ("openvino-bf16", "openvino", "mixed_bfloat16"),
        ("litert", "litert", "float32"),
    ):
        started = time.perf_counter()
        export_format(serving, format, folder / name, precision=precision)
        print(f"    {model}: {name} written in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return json.loads(serving.description_json)


def runner(folder):
    """Child: a function of the raw inputs, running the export at `folder` in its runtime."""
    folder = Path(folder)
    if folder.name.startswith("saved_model"):
        import tensorflow as tf

        serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
        return lambda images: {k: v.numpy() for k, v in serve(**images).items()}
    from cenkeras.serving.runtimes import open_export

    return open_export(folder)


def time_export(request):
    """Child: load, warm up, time; write the first outputs for the parity check."""
    started = time.perf_counter()
    run = runner(request["folder"])
    images = inputs_for(request["model"], request["description"])
    outputs = run(images)
    load_and_first = time.perf_counter() - started
    times = []
    for _ in range(request["repeats"]):
        started = time.perf_counter()
        run(images)
        times.append(time.perf_counter() - started)
    np.savez(request["outputs"], **{k: v for k, v in outputs.items() if "ensemble" in k})
    return {
        "median": statistics.median(times),
        "min": min(times),
        "load_and_first": load_and_first,
        "peak_rss": timing.peak_rss_bytes(),
    }


def child(request):
    if request["mode"] == "export":
        result = {"description": export_models(request["model"], request["folder"])}
    else:
        result = time_export(request)
    print("RESULT " + json.dumps(result), flush=True)


def measure(request, timeout=3600):
    return run_child(Path(__file__).resolve(), request, timeout)


def parity(model, outputs, reference, precision):
    """(text, within tolerance) comparing a row's ensemble outputs with the float32 SavedModel's."""
    bf16 = precision == "bf16"
    if model == "segmenter":
        agree = float(np.mean(outputs["ensemble_labels"] == reference["ensemble_labels"]))
        gap = float(np.max(np.abs(outputs["ensemble_probabilities"] - reference["ensemble_probabilities"])))
        ok = agree >= (0.95 if bf16 else 0.999) and gap <= (0.05 if bf16 else 1e-4)
        return f"labels {100 * agree:.2f}%, max dp {gap:.1e}", bool(ok)
    gap = np.abs(outputs["ensemble"].astype(int) - reference["ensemble"].astype(int))
    if bf16:
        share = float(np.mean(gap <= 7))
        ok = share >= 0.95
    else:
        share = float(np.mean(gap <= 1))
        ok = share >= 0.999 and gap.max() <= 2
    return f"{100 * share:.2f}% within {7 if bf16 else 1} level(s), max {gap.max()}", bool(ok)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 timed calls per row.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=sorted(MODELS), help="One model only.")
    parser.add_argument("--json", help="Also write the measurements to this file.")
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    repeats = 2 if args.quick else args.repeats
    results = []
    with tempfile.TemporaryDirectory() as root:
        for model in [args.only] if args.only else list(MODELS):
            folder = Path(root) / model
            description = measure({"mode": "export", "model": model, "folder": str(folder)})["description"]
            print(f"  exported the {model} in every format", flush=True)
            reference = None
            for runtime, export, precision in ROWS:
                outputs = Path(root) / f"{model}-{export}-{precision}.npz"
                request = {"mode": "time", "model": model, "folder": str(folder / export), "precision": precision}
                request.update(description=description, repeats=repeats, outputs=str(outputs))
                row = {"model": model, "runtime": runtime, "precision": precision, **measure(request)}
                with np.load(outputs) as saved:
                    row_outputs = dict(saved)
                if export == REFERENCE and precision == "float32":
                    reference = row_outputs
                row["parity"], row["within_tolerance"] = parity(model, row_outputs, reference, precision)
                results.append(row)
                print(f"  measured {model} {runtime} {precision}: {row['median']:.3f} s", flush=True)
    print_table(results, platform_cpu(), repeats)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def print_table(results, cpu, repeats):
    print(f"\nInference, batch 1, {repeats} timed calls after 1 warm-up, each row in a fresh process; {cpu}\n")
    print(
        "| model | runtime | precision | median s | min s | load + first call s | peak RSS GB | parity vs TF float32 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in results:
        flag = "" if row["within_tolerance"] else " (outside tolerance)"
        print(
            f"| {MODELS[row['model']]['label']} | {row['runtime']} | {row['precision']} | {row['median']:.3f} | "
            f"{row['min']:.3f} | {row['load_and_first']:.1f} | {row['peak_rss'] / GB:.2f} | {row['parity']}{flag} |"
        )
    for model in sorted({row["model"] for row in results}):
        rows = [row for row in results if row["model"] == model and row["within_tolerance"]]
        fastest = min(rows, key=lambda row: row["median"])
        baseline = next(
            r for r in results if r["model"] == model and r["runtime"] == "TF SavedModel" and r["precision"] == "bf16"
        )
        print(
            f"\n{MODELS[model]['label']}: fastest within tolerance {fastest['runtime']} {fastest['precision']} "
            f"{fastest['median']:.3f} s, {baseline['median'] / fastest['median']:.2f}x the TF SavedModel bf16 "
            f"({baseline['median']:.3f} s)"
        )


if __name__ == "__main__":
    main()
