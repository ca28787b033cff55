"""Seconds from a bad file met mid-epoch to the end of the `cenkeras train` process.

    python bench/bench_error_exit.py [--repeats 3]

Writes the 60-frame list dataset of tests/test_exits.py (120x160, batch 6,
progress bar on), spoils frame 31 in each of three ways, and runs the
console script with TensorFlow's kernel log on (TF_CPP_MIN_LOG_LEVEL=0), so
that the failing kernel's log line gives the moment the reader failed (its
timestamp is Unix time). The figure is the time from that line to the
process's exit, as its parent sees it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
from machine import platform_cpu  # noqa: E402
from nyud_helpers import write_list, write_sample  # noqa: E402
from test_exits import RECIPE, damage  # noqa: E402

KERNEL_LINE = re.compile(r"^W\d{4} \d\d:\d\d:(\d+\.\d+)\s+\d+ op_kernel\.cc.*DataError", re.MULTILINE)


def seconds_to_exit(root, recipe, run_dir):
    command = [str(Path(sys.executable).parent / "cenkeras"), "train", str(recipe)]
    command += ["--data-dir", str(root), "--run-dir", str(run_dir)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment)
    ended = time.time()
    failed = KERNEL_LINE.search(done.stderr)
    if done.returncode != 1 or failed is None:
        raise RuntimeError(f"expected a data error (rc {done.returncode}):\n{done.stderr[-3000:]}")
    return ended - float(failed.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        clean = Path(folder) / "clean"
        for index in range(60):
            write_sample(clean, index, size=(120, 160))
        write_list(clean, "train.txt", range(60))
        write_list(clean, "val.txt", range(4))
        recipe = Path(folder) / "tiny.py"
        recipe.write_text(RECIPE)
        print(f"\nbad file met mid-epoch -> `cenkeras train` exits; {platform_cpu()}\n")
        print("| bad file | seconds to exit (each run) |")
        print("|---|---|")
        for kind in ("truncated image", "label out of range", "mismatched size"):
            times = []
            for repeat in range(args.repeats):
                root = Path(folder) / f"{kind}-{repeat}"
                shutil.copytree(clean, root)
                damage(root, kind, 31)
                times.append(seconds_to_exit(root, recipe, Path(folder) / f"run-{kind}-{repeat}"))
            print(f"| {kind} | {', '.join(f'{t:.2f}' for t in times)} |")


if __name__ == "__main__":
    main()
