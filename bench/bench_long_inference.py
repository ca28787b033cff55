"""Memory and tracing over long inference: does serving many image sizes grow the process?

    python bench/bench_long_inference.py [--calls 1000] [--images 500] [--sizes 50]
        [--width 16] [--min-side 64] [--max-side 256] [--check] [--json OUT]

Two workloads, each on a freshly trained small RefineNet (the synthetic
recipe, reduced widths; the growth measured here comes from the runtime's
per-shape caches and the allocator, not from the model's size):

1. `cenkeras predict` (the console script, in a child process) over a folder
   of `--images` RGB-D frames in `--sizes` different sizes; the child's RSS
   is sampled every 20 ms and tied to the number of label maps written.
2. The exported SavedModel's `serving_default` signature called `--calls`
   times in this process with a random size each call (every height and
   width drawn from [min-side, max-side]); RSS read after every call.

For each: peak RSS once the first 100 calls are done (warm-up: the first
sizes fill the runtime's caches) and at the end, the growth between them,
and the number of traces (graph builds) of the serving function: 1 means no
retracing per size. `--check` exits 1 unless the growth is under 5% and there
is one trace (tests/test_long_inference.py runs the same with fewer calls).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import platform_cpu  # noqa: E402

GB = 1024**3


def rss_bytes(pid="self"):
    """(current RSS, peak RSS) of a process from /proc, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def train_small_run(run_dir, width=16, data_dir=None):
    """A small RefineNet-style RGB-D run on the synthetic scenes (one short epoch): what is served."""
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.tasks import get_task

    recipe = load_recipe("synthetic_rgbd")
    recipe.name = "long_inference"
    recipe.model.stage_blocks = (1, 1, 1, 1)
    recipe.model.base_width = width
    recipe.model.decoder_width = 2 * width
    recipe.data.synthetic.num_train = 8
    recipe.data.synthetic.num_val = 2
    recipe.data.synthetic.height, recipe.data.synthetic.width = 48, 64
    recipe.data.crop_size, recipe.data.shorter_side = 48, 48
    recipe.train.epochs = (1,)
    recipe.train.lr_encoder, recipe.train.lr_decoder = (1e-3,), (1e-3,)
    recipe.train.batch_size = 4
    recipe.train.steps_per_epoch = 1
    recipe.train.freeze_bn = False
    recipe.train.precision = "float32"
    get_task("segmentation").train(recipe, run_dir, data_dir=data_dir, verbose=0)
    return run_dir


def random_sizes(count, min_side, max_side, seed=0):
    rng = np.random.default_rng(seed)
    return [tuple(int(v) for v in rng.integers(min_side, max_side + 1, 2)) for _ in range(count)]


def write_frames(folder, count, sizes):
    """`count` RGB-D frames cycling through `sizes` (height, width): rgb/ (8-bit) and depth/ (16-bit)."""
    rng = np.random.default_rng(0)
    for name in ("rgb", "depth"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(count):
        height, width = sizes[index % len(sizes)]
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            folder / "rgb" / f"{index:05d}.png"
        )
        Image.fromarray(rng.integers(500, 40000, (height, width), dtype=np.uint16)).save(
            folder / "depth" / f"{index:05d}.png"
        )


WARM_CALLS = 100
GROWTH_BOUND = 0.05


def growth(samples, warm_calls):
    """Peak RSS after `warm_calls` calls, at the end, and the relative growth between them."""
    warm = max(peak for calls, _, peak in samples if calls <= warm_calls)
    final = max(peak for _, _, peak in samples)
    return {"peak_after_warmup": warm, "peak_at_end": final, "growth": final / warm - 1.0}


def measure_predict(run_dir, frames, out_dir, count, warm_calls):
    """Run the console script's predict over `frames`; RSS samples tied to the label maps written."""
    command = [str(Path(sys.executable).parent / "cenkeras"), "predict", str(run_dir)]
    command += ["--input", f"rgb={frames / 'rgb'}", "--input", f"depth={frames / 'depth'}"]
    command += ["--out", str(out_dir), "--quiet"]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples = []
    while child.poll() is None:
        try:
            current, peak = rss_bytes(child.pid)
        except (FileNotFoundError, KeyError, ProcessLookupError):
            break
        done = len(list(out_dir.glob("*_labels.png"))) if out_dir.exists() else 0
        samples.append((done, current, peak))
        time.sleep(0.02)
    _, error = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"cenkeras predict failed:\n{error[-3000:]}")
    samples = [s for s in samples if s[0] > 0]
    return {"calls": count, **growth(samples, warm_calls)}


def measure_saved_model(export_dir, calls, warm_calls, min_side, max_side):
    """`serving_default` called `calls` times with random sizes in this process; RSS after each call."""
    import tensorflow as tf

    from cenkeras.serving.export import serving_call

    loaded = tf.saved_model.load(str(export_dir))
    signature = loaded.signatures["serving_default"]
    rng = np.random.default_rng(1)
    samples = []
    started = time.perf_counter()
    for call, (height, width) in enumerate(random_sizes(calls, min_side, max_side, seed=1), start=1):
        images = {
            "rgb": rng.integers(0, 256, (1, height, width, 3), dtype=np.uint8),
            "depth": rng.integers(500, 40000, (1, height, width, 1), dtype=np.uint16),
        }
        serving_call(signature, **images)
        samples.append((call, *rss_bytes()))
    seconds = time.perf_counter() - started
    return {"calls": calls, "seconds_per_call": seconds / calls, **growth(samples, warm_calls)}


def serving_traces(run_dir, sizes):
    """Traces of the serving function (the Python module `predict` uses on a run) over `sizes`."""
    import tensorflow as tf

    from cenkeras.serving.export import SegmentationServing
    from cenkeras.tasks.run_models import load_run_model

    _, model = load_run_model(run_dir)
    module = SegmentationServing(model)
    for height, width in sizes:
        module.serve(
            {
                "rgb": tf.zeros((1, height, width, 3), tf.uint8),
                "depth": tf.zeros((1, height, width, 1), tf.uint16),
            }
        )
    return module.serve.experimental_get_tracing_count()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--sizes", type=int, default=50)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--min-side", type=int, default=64)
    parser.add_argument("--max-side", type=int, default=256)
    parser.add_argument("--json", help="Also write the figures here.")
    parser.add_argument("--check", action="store_true", help="Exit 1 if a bound is not met.")
    args = parser.parse_args()

    from cenkeras.tasks.run_models import export_run

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        run_dir = train_small_run(folder / "run", args.width, data_dir=folder / "tfds")
        export_dir = export_run(run_dir, out=folder / "export")
        sizes = random_sizes(args.sizes, args.min_side, args.max_side)
        write_frames(folder / "frames", args.images, sizes)
        results = {
            "predict": measure_predict(run_dir, folder / "frames", folder / "predictions", args.images, WARM_CALLS),
            "saved_model": measure_saved_model(export_dir, args.calls, WARM_CALLS, args.min_side, args.max_side),
            "traces": serving_traces(run_dir, sizes[:10]),
        }
    print(
        f"\nLong inference, RefineNet (blocks 1,1,1,1, width {args.width}), sides {args.min_side}-{args.max_side} px; "
        f"{platform_cpu()}\n"
    )
    print(f"| workload | calls | peak RSS after {WARM_CALLS} calls GB | peak RSS at end GB | growth |")
    print("|---|---|---|---|---|")
    for name, label in (
        ("predict", f"cenkeras predict, {args.images} images in {args.sizes} sizes"),
        ("saved_model", "SavedModel serving_default, a random size per call"),
    ):
        row = results[name]
        print(
            f"| {label} | {row['calls']} | {row['peak_after_warmup'] / GB:.3f} | {row['peak_at_end'] / GB:.3f} "
            f"| {100 * row['growth']:+.1f}% |"
        )
    print(f"\nServing function traces over 10 different sizes: {results['traces']} (1 = no retracing per size)")
    print(f"SavedModel: {1000 * results['saved_model']['seconds_per_call']:.1f} ms per call")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.check:
        within = all(results[name]["growth"] < GROWTH_BOUND for name in ("predict", "saved_model"))
        if not (within and results["traces"] == 1):
            sys.exit(f"FAILED: growth over {100 * GROWTH_BOUND:.0f}% or retracing per size")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
