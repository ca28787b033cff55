"""Shared test helpers: reference-fixture locations, layout conversion, error measures."""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "cen_reference"


def reference_path(name):
    path = REFERENCE_DIR / name
    if not path.exists():
        pytest.fail(f"Reference fixture {path} is missing: the tests expect ../shared next to the repo.")
    return path


def load_reference(name):
    """A fixture .npz and its decoded `meta`."""
    data = np.load(reference_path(name))
    return data, json.loads(str(data["meta"]))


def fixture_weights_module():
    """The NumPy weight recipe shipped with the fixtures (cen_fixture_weights.py)."""
    reference_path("cen_fixture_weights.py")
    if str(REFERENCE_DIR) not in sys.path:
        sys.path.insert(0, str(REFERENCE_DIR))
    import cen_fixture_weights

    return cen_fixture_weights


def nhwc(array):
    return np.transpose(np.asarray(array), (0, 2, 3, 1))


def relative_error(actual, reference):
    """max |actual - reference| / max |reference|, the fixtures' tolerance measure."""
    actual = np.asarray(actual, np.float64)
    reference = np.asarray(reference, np.float64)
    assert actual.shape == reference.shape, (actual.shape, reference.shape)
    return float(np.abs(actual - reference).max() / np.abs(reference).max())


def trainable_count(model):
    """Trainable parameters, the official counts' measure (running statistics excluded)."""
    return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def official_layout(state):
    """Wrap names as the official code saves them: DataParallel's `module.` in front and
    ModuleParallel's `.module.` before the parameter name of every shared layer."""
    wrapped = {}
    for key, value in state.items():
        if key == "alpha" or ".bn_" in key:
            wrapped[f"module.{key}"] = value
            continue
        module, param = key.rsplit(".", 1)
        wrapped[f"module.{module}.module.{param}"] = value
    return wrapped


def optimized_nodes(function, *args):
    """`(function(*args), the nodes of the graphs TensorFlow ran for it, after Grappler)`.

    TensorFlow keeps collecting the graphs of every function instantiated
    after run metadata was first enabled in the process, also while it is
    disabled: what an earlier test (or step) left is exported and dropped
    first, so the nodes are this call's only.
    """
    from tensorflow.python.eager import context

    context.enable_run_metadata()
    try:
        context.export_run_metadata()
        result = function(*args)
        run = context.export_run_metadata()
    finally:
        context.disable_run_metadata()
    return result, [node for graph in run.function_graphs for node in graph.post_optimization_graph.node]


def tiny_models():
    """`{name: builder}` of one small model of each architecture (2 modalities)."""
    from cenkeras.models import (
        build_patchgan_discriminator,
        build_pspnet,
        build_refinenet,
        build_unet_generator,
        tiny_pspnet_options,
        tiny_refinenet_options,
    )

    return {
        "refinenet": lambda: build_refinenet(50, 5, ["rgb", "depth"], **tiny_refinenet_options()),
        "pspnet": lambda: build_pspnet(50, 5, ["rgb", "depth"], **tiny_pspnet_options()),
        "unet": lambda: build_unet_generator(["shade", "texture"], filters=4, levels=5),
        "patchgan": lambda: build_patchgan_discriminator(filters=4),
    }
