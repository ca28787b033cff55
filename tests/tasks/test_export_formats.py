"""ONNX, LiteRT and OpenVINO exports: each loads in its own runtime and computes what the Keras model does.

Parity, per format and task (tiny models, real exports):
- segmenter: labels identical on >= 99.9% of the pixels of every output,
  probabilities within 1e-4 of the Keras serving function's (float32);
- generator: uint8 images within 1 level of the Keras function's on >= 99.9%
  of the values, never more than 2 levels apart.
"""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from cenkeras.tasks.run_models import export_run, load_run_model
from cenkeras.tasks.run_models import predict as predict_run
from cenkeras.serving.export_formats import FORMATS, METADATA_FILE
from cenkeras.training.precision import cpu_supports_bfloat16
from cenkeras.serving.runtimes import open_export
from cenkeras.tasks import get_task, task_for
from harness import run_cli
from tiny_recipe import tiny_recipe, tiny_translation_recipe

# Every export format converted and run in its runtime.
pytestmark = pytest.mark.slow

FORMAT_NAMES = sorted(FORMATS)
KINDS = ("labels", "probabilities")
PROBABILITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def segmentation_run(tmp_path_factory):
    """A run of a network with lone norms (`model.lone_norms`), whose lone norms are then moved well
    away from the shared ones, so that each single-modality file holds its own norms. (That the
    serving functions the files convert use them is tested in tests/models/test_lone_norms.py.)"""
    root = tmp_path_factory.mktemp("formats")
    recipe = tiny_recipe(epochs=(1,), lone_weight=0.3)
    recipe.model.lone_norms = True
    get_task("segmentation").train(recipe, root / "run", data_dir=str(root / "tfds"), verbose=0)
    _, model = load_run_model(root / "run")
    rng = np.random.default_rng(0)
    for site in model.layers:
        for norm in getattr(site, "alone_norms", []):
            norm.gamma.assign(norm.gamma * rng.uniform(0.5, 1.5, norm.gamma.shape).astype("float32"))
            norm.beta.assign(norm.beta + rng.normal(0, 0.2, norm.beta.shape).astype("float32"))
    for weights in (root / "run" / "checkpoints").glob("*.weights.h5"):
        model.save_weights(weights)
    return root / "run"


def exports_made_once(run, root):
    """`export(format)`: `run`'s float32 export in that format, under `root`, made on first use."""
    made = {}

    def export(format):
        if format not in made:
            made[format] = export_run(run, out=root / format / "1", format=format)
        return made[format]

    return export


@pytest.fixture(scope="module")
def segmenter_export(segmentation_run, tmp_path_factory):
    """`segmenter_export(format)`: the segmentation run's export in that format, made once per module."""
    return exports_made_once(segmentation_run, tmp_path_factory.mktemp("segmenter-exports"))


@pytest.fixture(scope="module")
def translation_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats-translation")
    get_task("translation").train(tiny_translation_recipe(), root / "run", data_dir=str(root / "tfds"), verbose=0)
    return root / "run"


@pytest.fixture(scope="module")
def generator_export(translation_run, tmp_path_factory):
    """`generator_export(format)`: the translation run's export in that format, made once per module."""
    return exports_made_once(translation_run, tmp_path_factory.mktemp("generator-exports"))


@functools.cache
def _serving_module(run):
    # One per run: every format's test compares with the same functions, traced once per size.
    recipe, model = load_run_model(run)
    return task_for(recipe).serving_module(model, recipe)


def keras_serving(run, alone=None):
    """The serving function the exports convert (`serving_<alone>` with one modality `alone`),
    computed by Keras/TensorFlow in this process."""
    serving = _serving_module(run)
    function = serving.subset_serves[f"serving_{alone}"] if alone else serving.serve
    return lambda images: {k: v.numpy() for k, v in function({n: tf.constant(x) for n, x in images.items()}).items()}


def segmentation_images(seed, batch=2, height=37, width=53):
    rng = np.random.default_rng(seed)
    return {
        "rgb": rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8),
        "depth": rng.integers(0, 40000, (batch, height, width, 1), dtype=np.uint16),
    }


@pytest.mark.parametrize("format", FORMAT_NAMES)
def test_segmenter_export_matches_keras_in_its_runtime(segmentation_run, segmenter_export, format):
    folder = segmenter_export(format)
    assert (folder / FORMATS[format][0]).exists()
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["format"] == format
    assert metadata["signatures"] == {
        "serving_default": ["rgb", "depth"],
        "serving_rgb": ["rgb"],
        "serving_depth": ["depth"],
    }
    stem, extension = FORMATS[format][0].rsplit(".", 1)
    assert metadata["files"] == {
        "serving_default": FORMATS[format][0],
        "serving_rgb": f"{stem}.rgb.{extension}",
        "serving_depth": f"{stem}.depth.{extension}",
    }
    exported = open_export(folder / FORMATS[format][0])  # the file works as well as its folder
    reference = keras_serving(segmentation_run)
    for size in ((37, 53), (24, 40)):  # any size, as the SavedModel
        images = segmentation_images(seed=size[0], height=size[0], width=size[1])
        got, expected = exported(images), reference(images)
        assert set(got) == set(expected)
        for name in ("rgb", "depth", "ensemble"):
            assert got[f"{name}_labels"].shape == (2, *size)
            assert np.mean(got[f"{name}_labels"] == expected[f"{name}_labels"]) >= 0.999
            np.testing.assert_allclose(
                got[f"{name}_probabilities"], expected[f"{name}_probabilities"], atol=PROBABILITY_TOLERANCE
            )
    with pytest.raises(Exception, match="input 'depth' must be uint16, got uint8"):
        exported({**images, "depth": images["depth"].astype(np.uint8)})
    with pytest.raises(Exception, match=r"missing \['depth'\]"):
        exported({"rgb": images["rgb"]})
    # A missing modality: each single modality's own file computes what its signature does.
    for name, alone in (
        ("rgb", open_export(folder, ["rgb"])),
        ("depth", open_export(folder / f"{stem}.depth.{extension}")),
    ):
        got, expected = alone({name: images[name]}), keras_serving(segmentation_run, name)({name: images[name]})
        assert set(got) == set(expected) == {f"{output}_{kind}" for output in (name, "ensemble") for kind in KINDS}
        assert np.mean(got["ensemble_labels"] == expected["ensemble_labels"]) >= 0.999
        np.testing.assert_allclose(
            got["ensemble_probabilities"], expected["ensemble_probabilities"], atol=PROBABILITY_TOLERANCE
        )


@pytest.mark.parametrize("format", FORMAT_NAMES)
def test_generator_export_matches_keras_in_its_runtime(translation_run, generator_export, format):
    exported = open_export(generator_export(format))
    rng = np.random.default_rng(1)
    images = {name: rng.integers(0, 256, (2, 40, 48, 3), dtype=np.uint8) for name in ("shade", "texture")}
    got, expected = exported(images), keras_serving(translation_run)(images)
    for name in ("shade", "texture", "ensemble"):
        assert got[name].dtype == np.uint8 and got[name].shape == (2, 40, 48, 3)
        difference = np.abs(got[name].astype(int) - expected[name].astype(int))
        assert np.mean(difference <= 1) >= 0.999 and difference.max() <= 2


def test_openvino_bf16_export_computes_in_bf16_within_the_bf16_tolerance(segmentation_run, segmenter_export, tmp_path):
    """`--format openvino --precision mixed_bfloat16`: float32 weights, bf16 inference recorded in the
    metadata and used by the runtime; the bf16 SavedModel's tolerance (probabilities within 0.05,
    labels equal on >= 95%)."""
    float32 = open_export(segmenter_export("openvino"))
    bf16 = open_export(
        export_run(segmentation_run, out=tmp_path / "bf16", format="openvino", precision="mixed_bfloat16")
    )
    assert float32.description["inference_precision"] == "f32"
    assert bf16.description["inference_precision"] == "bf16"
    assert (tmp_path / "bf16" / "model.bin").stat().st_size == (float32.path.parent / "model.bin").stat().st_size
    images = segmentation_images(seed=9)
    expected, got = keras_serving(segmentation_run)(images), bf16(images)
    np.testing.assert_allclose(got["ensemble_probabilities"], expected["ensemble_probabilities"], atol=0.05)
    assert np.mean(got["ensemble_labels"] == expected["ensemble_labels"]) >= 0.95
    # What OpenVINO compiled: bf16 where the CPU has bf16 units (CI's machines do), never for the f32 export.
    assert "float32" in str(float32.compiled_model.get_property("INFERENCE_PRECISION_HINT"))
    if cpu_supports_bfloat16():
        assert "bfloat16" in str(bf16.compiled_model.get_property("INFERENCE_PRECISION_HINT"))


def test_cli_exports_onnx_and_predict_runs_it(segmentation_run, tmp_path):
    result = run_cli("export", str(segmentation_run), "--format", "onnx", "--out", str(tmp_path / "onnx"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "onnx" / "model.onnx").exists() and "cenkeras predict" in result.stdout
    images = segmentation_images(seed=5, batch=1)
    Image.fromarray(images["rgb"][0]).save(tmp_path / "a.png")
    Image.fromarray(images["depth"][0, ..., 0]).save(tmp_path / "a_depth.png")
    files = {"rgb": str(tmp_path / "a.png"), "depth": str(tmp_path / "a_depth.png")}
    # Without depth, the export runs its rgb file (model.rgb.onnx: the full set's file would refuse
    # the request), the run its rgb subset (in this process: the console script's path is the export's).
    for names in (("rgb", "depth"), ("rgb",)):
        out = tmp_path / f"predicted-onnx-{len(names)}"
        inputs = [f"--input={name}={files[name]}" for name in names]
        result = run_cli("predict", str(tmp_path / "onnx" / "model.onnx"), *inputs, "--out", str(out), "--quiet")
        assert result.returncode == 0, result.stderr[-2000:]
        reference = tmp_path / f"predicted-run-{len(names)}"
        predict_run(segmentation_run, {name: files[name] for name in names}, reference, verbose=0)
        same = np.asarray(Image.open(out / "a_labels.png")) == np.asarray(Image.open(reference / "a_labels.png"))
        assert np.mean(same) >= 0.999


def test_translate_runs_a_litert_export(generator_export, tmp_path):
    litert = generator_export("litert")
    rng = np.random.default_rng(2)
    for name in ("shade", "texture"):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    inputs = [f"--input={name}={tmp_path / name}.png" for name in ("shade", "texture")]
    result = run_cli("translate", str(litert), *inputs, "--out", str(tmp_path / "out.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.asarray(Image.open(tmp_path / "out.png")).shape == (40, 48, 3)
    # Shade alone runs the shade file (model.shade.tflite); an input the model has not is refused.
    result = run_cli("translate", str(litert), inputs[0], "--out", str(tmp_path / "shade_alone.png"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert np.asarray(Image.open(tmp_path / "shade_alone.png")).shape == (40, 48, 3)
    unknown = f"--input=depth={tmp_path / 'texture.png'}"
    result = run_cli("translate", str(litert), inputs[0], unknown, "--out", str(tmp_path / "x.png"))
    assert result.returncode == 1 and "unexpected ['depth']" in result.stderr and "Traceback" not in result.stderr


def test_translate_from_the_run_its_weights_and_every_export_through_the_console_script(
    translation_run, generator_export, tmp_path
):
    """`cenkeras translate` from the run, from the run with `--weights` (another file: another
    image), and from its SavedModel, ONNX and OpenVINO exports: the exports give the run's image
    within a grey level or two (the parity tolerance of the formats)."""
    from cenkeras.training.runs import RunDirectory

    rng = np.random.default_rng(4)
    for name in ("shade", "texture"):  # at the network's size: the run and the exports then agree
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    inputs = [f"--input={name}={tmp_path / name}.png" for name in ("shade", "texture")]

    def translated(model, *extra):
        out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}.png"
        result = run_cli("translate", str(model), *inputs, "--out", str(out), *extra)
        assert result.returncode == 0, result.stderr[-2000:]
        return np.asarray(Image.open(out)).astype(int)

    reference = translated(translation_run)
    assert reference.shape == (32, 32, 3)
    # Another weights file: the run's network with every decoder bias shifted.
    recipe, model = load_run_model(translation_run)
    for weight in model.weights:
        if "deconv" in weight.path and weight.path.endswith("bias"):
            weight.assign(weight + 0.5)
    other = tmp_path / "shifted.weights.h5"
    model.save_weights(str(other))
    shifted = translated(translation_run, "--weights", str(other))
    assert np.abs(shifted - reference).max() > 10
    assert RunDirectory(translation_run).best_weights.exists()
    for format in ("saved_model", "onnx", "openvino"):
        image = translated(generator_export(format))
        assert np.abs(image - reference).max() <= 2, format
        assert np.mean(np.abs(image - reference) <= 1) >= 0.999, format
    refused = run_cli(
        "translate", str(generator_export("onnx")), *inputs, "--out", str(tmp_path / "x.png"), "--weights", str(other)
    )
    assert refused.returncode == 2 and "--weights applies to a run directory" in refused.stderr


def test_a_missing_extra_is_one_line_naming_it(segmentation_run, tmp_path):
    hide = "import sys; sys.modules['openvino'] = None"  # find_spec then says: not installed
    result = run_cli(
        "export", str(segmentation_run), "--format", "openvino", "--out", str(tmp_path / "o"), prelude=hide
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'cenkeras[openvino]'" in result.stderr and not (tmp_path / "o").exists()
    result = run_cli("export", str(segmentation_run), "--format", "onnx", "--precision", "mixed_bfloat16")
    assert (
        result.returncode == 1 and "--precision mixed_bfloat16 applies to the SavedModel and OpenVINO" in result.stderr
    )
