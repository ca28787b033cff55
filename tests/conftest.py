"""Pytest configuration shared by every test folder."""

import atexit
import os
import shutil
import tempfile

import pytest

# Quiet TensorFlow's C++ start-up logs in test output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Synthetic scenes a test prepares without naming a folder go to a folder of this test process
# (each xdist worker has its own), not to the user's ~/.cache; console scripts the tests start
# inherit it.
if "CENKERAS_DATA_DIR" not in os.environ:
    os.environ["CENKERAS_DATA_DIR"] = tempfile.mkdtemp(prefix="cenkeras-test-scenes-")
    atexit.register(shutil.rmtree, os.environ["CENKERAS_DATA_DIR"], ignore_errors=True)

# Docstring examples that train (a step each): slow like the tests that train.
SLOW_DOCTESTS = {
    "cenkeras.tasks.segmentation.SegmentationTrainer",
    "cenkeras.tasks.translation.TranslationTrainer",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
