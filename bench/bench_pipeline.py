"""Throughput of the segmentation input pipeline at the official augmentation.

    python bench/bench_pipeline.py [--samples 48] [--batch 6] [--batches 20]

Writes NYUDv2-like samples (480x640 RGB PNG, 16-bit depth PNG with holes,
label PNG) to a temporary folder in the official list layout, then times the
training pipeline (parallel PNG decoding, random scale 0.5-2.0 with the
shorter side >= 350, pad + random crop 500, mirror, batching) and the
evaluation pipeline. Prints images per second; compare with the train step
of `bench/bench_models.py` (images per second = batch / step time).
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cenkeras.config import DataConfig, ModalityConfig
from cenkeras.data.pipeline import evaluation_dataset, list_raw_dataset, training_dataset


def write_dataset(root, count, height=480, width=640):
    rng = np.random.default_rng(0)
    for folder in ("rgb", "depth", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    v, u = np.mgrid[0:height, 0:width]
    lines = []
    for i in range(count):
        # Smooth content (compresses like a photo, unlike noise).
        rgb = np.stack([(np.sin(u / (17 + c + i % 5)) * 90 + np.cos(v / 23) * 60 + 128) for c in range(3)], -1)
        rgb = np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)
        depth = (5000 * (1.5 + 2.5 * v / height + 0.3 * np.sin(u / 40))).astype(np.uint16)
        depth[rng.uniform(size=depth.shape) < 0.05] = 0
        mask = ((u // 80 + v // 60 + i) % 40).astype(np.uint8)
        name = f"{i:06d}.png"
        Image.fromarray(rgb).save(root / "rgb" / name)
        Image.fromarray(depth).save(root / "depth" / name)
        Image.fromarray(mask).save(root / "masks" / name)
        lines.append(f"rgb/{name}\tmasks/{name}\tdepth/{name}")
    (root / "train.txt").write_text("\n".join(lines) + "\n")


def dataset_config(root):
    """The list-dataset config reading what `write_dataset` wrote (train.txt for both splits)."""
    return DataConfig(
        source="list",
        root=str(root),
        train_list=str(root / "train.txt"),
        val_list=str(root / "train.txt"),
        modalities={"rgb": ModalityConfig(kind="rgb", column=0), "depth": ModalityConfig(kind="depth", column=2)},
    )


def images_per_second(dataset, batches, batch_size):
    iterator = iter(dataset)
    next(iterator)  # warm-up: tracing, thread pools
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def measure(samples=48, batch=6, batches=20):
    """Images per second of the training and evaluation pipelines on freshly written PNGs."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_dataset(root, samples)
        config = dataset_config(root)
        raw, _ = list_raw_dataset(config.train_list, config, num_classes=40)
        train = training_dataset(raw, config, batch, seed=0)
        evaluation = evaluation_dataset(raw, config, batch_size=1).repeat()
        return {
            "rates": {
                f"train, batch {batch} (decode + scale/pad/crop 500/mirror)": images_per_second(train, batches, batch),
                "eval, batch 1 (decode + normalise, 480x640)": images_per_second(evaluation, batches * 4, 1),
            }
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=48)
    parser.add_argument("--batch", type=int, default=6)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    rates = measure(args.samples, args.batch, args.batches)["rates"]
    print("\n| pipeline | images/s |")
    print("|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.1f} |")


if __name__ == "__main__":
    main()
