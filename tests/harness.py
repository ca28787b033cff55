"""The test harness: how a cenkeras command, layer or model is checked, and the helpers tests share.

- `run_cli`: the console script in a subprocess with a timeout (a hang fails the test), stderr
  checked for tracebacks;
- `run_layer_test`: a layer built and called, its weight counts, its config round trip, a
  `.keras` round trip with exactly the same outputs, and a call under mixed precision;
- `random_images`: a batch of inputs per modality; `run_model_saving_test`: a model through a
  `.keras` file in safe mode, with the same class, config, outputs (exactly), exchange
  statistics and losses; every registered class's arguments are checked in
  `tests/test_serialization.py`;
- reference fixtures of the official implementation, layout conversion, error measures;
- the graphs TensorFlow runs (`optimized_nodes`), tiny models of every architecture.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "fixtures" / "cen_reference"
# The console script of the environment the tests run in.
CENKERAS = Path(sys.executable).parent / "cenkeras"
TRACEBACK = "Traceback (most recent call last)"


def run_cli(*args, script=CENKERAS, timeout=300, cwd=None, env=None, prelude=None, traceback_ok=False):
    """`cenkeras ARGS...` run as a user runs it: the console script in a subprocess.

    Returns the `subprocess.CompletedProcess` (text stdout and stderr). A process still
    running after `timeout` seconds fails the test as a hang; a Python traceback on stderr
    fails it too, unless `traceback_ok`. `prelude`, Python code, runs before the console
    script's `main()` in the same interpreter (to hide an installed extra, say).
    """
    command = [str(script), *map(str, args)]
    if prelude is not None:
        # argv[0] is the script's name before cenkeras is imported, as when the console script starts.
        code = f"{prelude}\nimport sys\nsys.argv[0] = 'cenkeras'\nfrom cenkeras.cli.main import main\nmain()"
        command = [sys.executable, "-c", code, *command[1:]]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} was still running after {timeout} s: a hang")
    if not traceback_ok:
        assert TRACEBACK not in done.stderr, f"{' '.join(command)} printed a traceback:\n{done.stderr[-3000:]}"
    return done


def random_images(names, size=64, batch=2, seed=0, channels=3, height=None, uniform=False):
    """`{name: float32 (batch, height, size, channels)}`: N(0, 1) values, or U(-1, 1) with
    `uniform` (images in the generators' range); the same `seed` gives the same batch."""
    rng = np.random.default_rng(seed)
    shape = (batch, height or size, size, channels)
    draw = (lambda: rng.uniform(-1, 1, shape)) if uniform else (lambda: rng.normal(size=shape))
    return {name: draw().astype(np.float32) for name in names}


def _numpy_tree(value):
    import keras

    return keras.tree.map_structure(keras.ops.convert_to_numpy, value)


def _symbolic_inputs(inputs):
    """`keras.Input`s shaped like `inputs` (one array or a list of them), batch size left open."""
    import keras

    if isinstance(inputs, (list, tuple)):
        return [keras.Input(np.shape(x)[1:]) for x in inputs]
    return keras.Input(np.shape(inputs)[1:])


def run_layer_test(
    make_layer, inputs, path, trainable_weights, non_trainable_weights=0, output_shapes=None, mixed_dtype="bfloat16"
):
    """Check a cenkeras layer as users meet it.

    `make_layer()` builds a fresh layer; `inputs` is what it is called on (an array or a list).
    Checks: the call's output shapes (`output_shapes`, one tuple or a list, if given); the number
    of trainable and non-trainable weights; `from_config(get_config())` giving the same config;
    a functional model around the layer through a `.keras` file at `path` in safe mode giving
    exactly the same outputs; and a layer made under the `mixed_bfloat16` policy computing in
    `mixed_dtype` with float32 variables, outputs of the same shapes. Returns the layer.
    """
    import keras

    layer = make_layer()
    outputs = _numpy_tree(layer(inputs))
    shapes = [tuple(np.shape(x)) for x in keras.tree.flatten(outputs)]
    if output_shapes is not None:
        expected = output_shapes if isinstance(output_shapes, list) else [output_shapes]
        assert shapes == [tuple(s) for s in expected], shapes
    assert (len(layer.trainable_weights), len(layer.non_trainable_weights)) == (
        trainable_weights,
        non_trainable_weights,
    ), [v.path for v in layer.weights]

    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config

    symbolic = _symbolic_inputs(inputs)
    model = keras.Model(symbolic, make_layer()(symbolic))
    for target, source in zip(model.layers[-1].weights, layer.weights):
        target.assign(source)
    want = _numpy_tree(model(inputs))
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.layers[-1]) is type(layer)
    for got, expected in zip(keras.tree.flatten(_numpy_tree(loaded(inputs))), keras.tree.flatten(want)):
        np.testing.assert_array_equal(got, expected)

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = make_layer()
        mixed_outputs = keras.tree.flatten(mixed(inputs))
    finally:
        keras.config.set_dtype_policy(previous)
    assert mixed.compute_dtype == mixed_dtype and all(v.dtype == "float32" for v in mixed.weights)
    assert [tuple(x.shape) for x in mixed_outputs] == shapes
    return layer


def run_model_saving_test(model, inputs, path, training=False):
    """Save `model` as a `.keras` file at `path`, load it in safe mode and check that nothing was
    lost: the same class and config, exactly the same outputs on `inputs`, the same exchange
    statistics (CEN networks) and the same losses (the sparsity terms). Returns the loaded model."""
    import keras

    before = _numpy_tree(model(inputs, training=training))
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model), (type(loaded), type(model))
    assert loaded.get_config() == model.get_config()
    after = _numpy_tree(loaded(inputs, training=training))
    if isinstance(before, dict):
        assert sorted(after) == sorted(before)
        for name in before:
            np.testing.assert_array_equal(after[name], before[name], err_msg=f"output {name!r}")
    else:
        np.testing.assert_array_equal(after, before)
    if hasattr(model, "exchange_statistics"):
        assert loaded.exchange_statistics() == model.exchange_statistics()
    losses = [float(keras.ops.convert_to_numpy(sum(m.losses))) for m in (model, loaded)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
    return loaded


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


def tiny_network(architecture, names=None, **options):
    """A small CEN network: "refinenet" or "pspnet" (ResNet-50 with one bottleneck per stage,
    narrow widths, 5 classes, inputs `names`, default rgb + depth) or "unet" (4 filters, the
    official 8 levels unless `levels` is given; domains `names`, default shade + texture).
    `options` go to the builder on top of those."""
    from cenkeras.models import build_pspnet, build_refinenet, build_unet_generator, tiny_options

    if architecture == "unet":
        return build_unet_generator(list(names or ("shade", "texture")), **{"filters": 4, **options})
    build = {"refinenet": build_refinenet, "pspnet": build_pspnet}[architecture]
    return build(50, 5, list(names or ("rgb", "depth")), **{**tiny_options(), **options})


def tiny_models():
    """`{name: builder}` of one small model of each architecture (2 modalities)."""
    from cenkeras.models import build_patchgan_discriminator

    return {
        "refinenet": lambda: tiny_network("refinenet"),
        "pspnet": lambda: tiny_network("pspnet"),
        "unet": lambda: tiny_network("unet", levels=5),
        "patchgan": lambda: build_patchgan_discriminator(filters=4),
    }


def trained_looking(model, seed=0):
    """Every norm of `model` (the lone norms too) with scales, shifts and running statistics of
    its own, away from their initial values; modality m's exchange scales are 0 on channels m,
    m + M, ... (those channels are replaced)."""
    from cenkeras.layers import ChannelExchange, ParallelNormalization

    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if not isinstance(layer, ParallelNormalization):
            continue
        for index, norm in enumerate(layer.every_norm()):
            size = norm.gamma.shape[0]
            gamma = rng.uniform(0.5, 1.5, size).astype("float32")
            if isinstance(layer, ChannelExchange) and norm in layer.norms:
                gamma[index :: layer.num_modalities] = 0.0
            norm.gamma.assign(gamma)
            norm.beta.assign(rng.normal(0, 0.2, size).astype("float32"))
            norm.moving_mean.assign(rng.normal(0, 0.3, size).astype("float32"))
            norm.moving_variance.assign(rng.uniform(0.5, 2.0, size).astype("float32"))
    return model
