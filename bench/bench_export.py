"""Inference time of an exported RefineNet RGB-D SavedModel (the TF Serving path).

    python bench/bench_export.py [--depth 101] [--precision float32|mixed_bfloat16]

Builds the segmenter (random weights: timing does not depend on them), exports
it with cenkeras' serving signature (raw uint8 RGB + uint16 depth in,
preprocessing, labels and probabilities at input resolution out), loads it
back with tf.saved_model.load and times one 480x640 RGB-D image per call.
Official figure on this machine (fixture README): 5.7-5.9 s float32.
"""

import argparse
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from cenkeras.config import Recipe
from cenkeras.export import SegmentationServing
from cenkeras.models import build_refinenet


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=101, choices=(50, 101, 152))
    parser.add_argument("--precision", default="float32", choices=("float32", "mixed_bfloat16"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    keras.config.set_dtype_policy(args.precision)
    recipe = Recipe()
    recipe.model.depth = args.depth
    model = build_refinenet(args.depth, 40, ["rgb", "depth"])
    module = SegmentationServing(model, recipe)
    rng = np.random.default_rng(0)
    images = {
        "rgb": tf.constant(rng.integers(0, 256, (1, 480, 640, 3), dtype=np.uint8)),
        "depth": tf.constant(rng.integers(0, 40000, (1, 480, 640, 1), dtype=np.uint16)),
    }
    with tempfile.TemporaryDirectory() as folder:
        tf.saved_model.save(module, folder, signatures={"serving_default": module.serve})
        serve = tf.saved_model.load(folder).signatures["serving_default"]
        serve(**images)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            serve(**images)["ensemble_labels"].numpy()
            times.append(time.perf_counter() - start)
    print(f"\n| model | precision | median s | min s | max s | official fp32 s |")
    print("|---|---|---|---|---|---|")
    print(f"| RefineNet-{args.depth} RGB-D SavedModel, 480x640 | {args.precision} | "
          f"{statistics.median(times):.3f} | {min(times):.3f} | {max(times):.3f} | 5.7 |")


if __name__ == "__main__":
    main()
