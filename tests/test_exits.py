"""A command that fails ends its process: the console script, a bad file met mid-run, a timeout.

Before `cenkeras.cli.main.main`, a data error raised inside tf.data during
`fit` printed its one-line error and then left the process waiting forever
at interpreter shutdown (tf.data's threads were still running the pipeline's
Python readers): reproduced here with a dataset large enough that the
pipeline is busy when the error arrives, and the progress bar on.
"""

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Console scripts that train or evaluate until a bad file stops them.
pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).parent / "data"))
from nyud_helpers import write_list, write_sample  # noqa: E402

from harness import run_cli  # noqa: E402

# Seconds a failing command may take to exit: start-up, a few steps, the error. A hang runs into it.
EXIT_WITHIN = 180

RECIPE = """
from cenkeras.recipes.nyudv2_refinenet101 import recipe as base


def recipe():
    r = base()
    r.model.num_classes = 5
    r.model.stage_blocks = (1, 1, 1, 1)
    r.model.base_width = 4
    r.model.decoder_width = 8
    r.data.crop_size = 96
    r.data.shorter_side = 100
    r.data.align = "reject"
    r.train.epochs = (1,)
    r.train.lr_encoder = (1e-3,)
    r.train.lr_decoder = (1e-3,)
    r.train.batch_size = 6
    r.train.val_every = 1
    r.train.freeze_bn = False
    r.train.precision = "float32"
    return r
"""


def console(*args):
    done = run_cli(*args, timeout=EXIT_WITHIN)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """60 frames of 120x160 in the official layout and a tiny recipe reading them."""
    root = tmp_path_factory.mktemp("nyud")
    for index in range(60):
        write_sample(root, index, size=(120, 160))
    write_list(root, "train.txt", range(60))
    write_list(root, "val.txt", range(4))
    recipe = root / "tiny.py"
    recipe.write_text(RECIPE)
    return root, recipe


def damage(root, kind, index):
    """Spoil frame `index` the way `kind` says; returns the path named in the error."""
    if kind == "truncated image":
        path = root / "rgb" / f"{index:06d}.png"
        path.write_bytes(path.read_bytes()[:200])
        return path, "cannot read image"
    if kind == "label out of range":
        path = root / "masks" / f"{index:06d}.png"
        labels = np.zeros((120, 160), np.uint8)
        labels[5, 5] = 7
        Image.fromarray(labels).save(path)
        return path, "has labels [7] >= num_classes (5)"
    path = root / "depth" / f"{index:06d}.png"
    Image.fromarray(np.full((60, 80), 9000, np.uint16)).save(path)
    return path, "is 80x60 but its mask"


@pytest.mark.parametrize("kind", ["truncated image", "label out of range", "mismatched size"])
def test_training_ends_with_the_error_when_a_bad_file_is_met_mid_epoch(dataset, tmp_path, kind):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(dataset[0], root)
    path, message = damage(root, kind, 31)
    code, _, stderr = console("train", dataset[1], "--data-dir", root, "--run-dir", tmp_path / "run")
    assert code == 1, stderr[-3000:]
    error = [line for line in stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1 and message in error[0] and str(path) in error[0]
    assert_quiet_with_details_in(stderr, tmp_path / "run" / "cenkeras.log", path)
    if kind == "truncated image":
        # The run failed in its first epoch: with the file mended, the same command starts it again
        # (no --resume needed: nothing was trained), and a run that trained an epoch is kept.
        write_sample(root, 31, size=(120, 160))
        args = ("train", dataset[1], "--data-dir", root, "--run-dir", tmp_path / "run", "--quiet")
        # It never validates (val_every beyond its epoch): no best checkpoint, and the summary says so.
        code, stdout, stderr = console(*args, "--set", "train.steps_per_epoch=2", "--set", "train.val_every=5")
        assert code == 0, stderr[-3000:]
        assert "Validation of the last (the run never validated) checkpoint:" in stdout
        code, _, stderr = console(*args)
        assert code == 1 and "already holds a run; pass --resume" in stderr


# Lines TensorFlow prints as it starts (absl's pre-init warning, C++ INFO/ERROR lines, Python absl).
TENSORFLOW_LINE = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} \d\d:\d\d:\d\d|WARNING:absl:)")


def assert_no_tensorflow_lines(stderr):
    """The console script keeps TensorFlow's start-up lines off the terminal."""
    lines = [line for line in stderr.splitlines() if TENSORFLOW_LINE.match(line)]
    assert lines == [], lines


def assert_quiet_with_details_in(stderr, log, path):
    """The terminal shows no traceback (TensorFlow's kernel log kept it before); the run's log has it."""
    assert "Traceback" not in stderr and "op_kernel" not in stderr, stderr[-3000:]
    assert f"(details in {log})" in stderr
    details = log.read_text()
    assert "Traceback (most recent call last)" in details and str(path) in details


def test_eval_and_predict_end_with_the_error_on_a_bad_file(dataset, tmp_path):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(dataset[0], root)
    write_list(root, "train.txt", range(6))
    code, _, stderr = console("train", dataset[1], "--data-dir", root, "--run-dir", tmp_path / "run", "--quiet")
    assert code == 0, stderr[-3000:]
    assert_no_tensorflow_lines(stderr)
    path, message = damage(root, "label out of range", 2)
    code, _, stderr = console("eval", tmp_path / "run")
    assert code == 1 and message in stderr and str(path) in stderr
    assert_quiet_with_details_in(stderr, tmp_path / "run" / "cenkeras.log", path)
    assert_no_tensorflow_lines(stderr)
    assert "TensorFlow's start-up lines:" in (tmp_path / "run" / "cenkeras.log").read_text()

    path, message = damage(root, "truncated image", 40)
    code, _, stderr = console(
        "predict",
        tmp_path / "run",
        "--input",
        f"rgb={root / 'rgb'}",
        "--input",
        f"depth={root / 'depth'}",
        "--out",
        tmp_path / "predictions",
    )
    assert code == 1 and message in stderr and str(path) in stderr
    assert_quiet_with_details_in(stderr, tmp_path / "predictions" / "cenkeras.log", path)
