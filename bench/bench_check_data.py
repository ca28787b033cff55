"""Files per second of `cenkeras check-data` (every listed sample decoded as training reads it).

    python bench/bench_check_data.py [--samples 300] [--workers 1,2]

Writes NYUDv2-sized samples (480x640 RGB PNG, 16-bit depth PNG with holes,
label PNG) in the official list layout, then runs the check over them with
each number of reader threads. The first pass warms the page cache.
"""

import argparse
import tempfile
from pathlib import Path

from bench_pipeline import dataset_config, write_dataset
from machine import platform_cpu

from cenkeras.data.pipeline import list_sample_checks
from cenkeras.data.verify import check_samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--workers", default="1,2", help="Comma-separated reader thread counts.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_dataset(root, args.samples)
        config = dataset_config(root)

        def check(workers):
            checks = {"train": list_sample_checks(config.train_list, "train", config, num_classes=40)}
            return check_samples(checks, workers=workers, quiet=True)

        check(2)  # page cache
        print(f"\ncheck-data over {args.samples} samples of 480x640 (3 files each); {platform_cpu()}\n")
        print("| reader threads | seconds | files/s | samples/s |")
        print("|---|---|---|---|")
        for workers in (int(w) for w in args.workers.split(",")):
            report = check(workers)
            assert report.ok, report.text()
            total = sum(report.samples.values())
            print(
                f"| {workers} | {report.seconds:.2f} | {report.files / report.seconds:.0f} "
                f"| {total / report.seconds:.0f} |"
            )


if __name__ == "__main__":
    main()
