"""SavedModel export: a fresh process loads it and reproduces the Keras model's predictions."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from cenkeras.cli.main import cli
from cenkeras.data.modalities import normalize
from cenkeras.serving.export import next_version, serving_call
from cenkeras.tasks.run_models import export_run, load_run_model
from cenkeras.tasks import get_task, segmentation_run
from tiny_recipe import tiny_recipe, tiny_translation_recipe

# A trained tiny run exported and served, several in fresh processes.
pytestmark = pytest.mark.slow

CHECK_IN_FRESH_PROCESS = r"""
import json, sys
import numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
data = np.load(sys.argv[2])
outputs = serve(**{name: tf.constant(data[name]) for name in data.files})
np.savez(sys.argv[3], **{k: v.numpy() for k, v in outputs.items()})
print(model.signatures["metadata"]()["cenkeras"].numpy().decode())
"""


@pytest.fixture(scope="module")
def segmentation_run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    get_task("segmentation").train(tiny_recipe(epochs=(1,)), root / "run", data_dir=str(root / "tfds"), verbose=0)
    return root / "run"


def raw_images(seed=0, height=37, width=53):
    rng = np.random.default_rng(seed)
    return {
        "rgb": rng.integers(0, 256, (2, height, width, 3), dtype=np.uint8),
        "depth": rng.integers(0, 40000, (2, height, width, 1), dtype=np.uint16),
    }


def test_export_loads_in_a_fresh_process_and_matches_keras(segmentation_run_dir, tmp_path):
    out = export_run(segmentation_run_dir, out=tmp_path / "saved" / "1")
    assert (out / "saved_model.pb").exists() and (out / "model.keras").exists()
    images = raw_images()
    np.savez(tmp_path / "in.npz", **images)
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IN_FRESH_PROCESS, str(out), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metadata = json.loads(result.stdout)
    assert metadata["inputs"]["depth"]["dtype"].startswith("uint16")
    served = np.load(tmp_path / "out.npz")

    recipe, model = load_run_model(segmentation_run_dir)
    inputs = {name: normalize(tf.cast(images[name], tf.float32), recipe.data.modalities[name]) for name in images}
    logits = model(inputs, training=False)
    for name in ("rgb", "depth", "ensemble"):
        up = tf.image.resize(logits[name], (37, 53), method="bilinear")
        probabilities = tf.nn.softmax(up, axis=-1).numpy()
        np.testing.assert_allclose(served[f"{name}_probabilities"], probabilities, atol=1e-5)
        np.testing.assert_array_equal(served[f"{name}_labels"], probabilities.argmax(-1))


def test_bfloat16_export_agrees_with_float32(segmentation_run_dir, tmp_path):
    """The bf16 SavedModel (`--precision mixed_bfloat16`) keeps the interface; its probabilities
    stay within 0.05 of float32's and its labels agree on >= 95% of the pixels."""
    images = {name: tf.constant(value) for name, value in raw_images(seed=3).items()}
    served = {}
    for precision in ("float32", "mixed_bfloat16"):
        out = export_run(segmentation_run_dir, out=tmp_path / precision / "1", precision=precision)
        served[precision] = tf.saved_model.load(str(out)).signatures["serving_default"](**images)
    fast, reference = served["mixed_bfloat16"], served["float32"]
    # Its weights are stored in bfloat16: about half the float32 variables.
    sizes = {p: sum(f.stat().st_size for f in (tmp_path / p / "1" / "variables").iterdir()) for p in served}
    assert sizes["mixed_bfloat16"] < 0.6 * sizes["float32"]
    assert fast["ensemble_probabilities"].dtype == tf.float32
    np.testing.assert_allclose(fast["ensemble_probabilities"], reference["ensemble_probabilities"], atol=0.05)
    assert np.mean(fast["ensemble_labels"].numpy() == reference["ensemble_labels"].numpy()) >= 0.95


def test_bad_requests_name_the_input(segmentation_run_dir, tmp_path):
    out = export_run(segmentation_run_dir, out=tmp_path / "m" / "1")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    images = raw_images()
    with pytest.raises(ValueError, match="input 'rgb' must be uint8, got float32"):
        serving_call(serve, rgb=images["rgb"].astype(np.float32), depth=images["depth"])
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        serving_call(serve, rgb=images["rgb"])
    with pytest.raises(ValueError, match="input 'depth' must have shape"):
        serving_call(serve, rgb=images["rgb"], depth=images["depth"][..., 0])
    # Straight to the signature (as TF Serving does): the in-graph check names the input.
    with pytest.raises(tf.errors.InvalidArgumentError, match="input rgb must have 3 channels"):
        serve(rgb=tf.constant(images["rgb"][..., :1]), depth=tf.constant(images["depth"]))
    assert set(serving_call(serve, **images)) >= {"ensemble_labels", "rgb_probabilities"}


def test_each_single_modality_has_its_own_signature(segmentation_run_dir, tmp_path):
    """A missing sensor at serving time: serving_<modality> runs the network from that input alone,
    as `model.subset` computes it; the metadata names every signature's inputs."""
    out = export_run(segmentation_run_dir, out=tmp_path / "m" / "1")
    loaded = tf.saved_model.load(str(out))
    assert set(loaded.signatures) == {
        "serving_default",
        "serving_labels",
        "serving_png",
        "serving_rgb",
        "serving_depth",
        "metadata",
    }
    metadata = json.loads(loaded.signatures["metadata"]()["cenkeras"].numpy())
    assert metadata["signatures"] == {
        "serving_default": ["rgb", "depth"],
        "serving_rgb": ["rgb"],
        "serving_depth": ["depth"],
    }
    images = raw_images(seed=5)
    recipe, model = load_run_model(segmentation_run_dir)
    for name in ("rgb", "depth"):
        served = serving_call(loaded.signatures[f"serving_{name}"], **{name: images[name]})
        assert set(served) == {f"{name}_labels", f"{name}_probabilities", "ensemble_labels", "ensemble_probabilities"}
        inputs = {name: normalize(tf.cast(images[name], tf.float32), recipe.data.modalities[name])}
        logits = model.subset([name])(inputs, training=False)
        for output in (name, "ensemble"):
            up = tf.image.resize(logits[output], (37, 53), method="bilinear")
            np.testing.assert_allclose(served[f"{output}_probabilities"], tf.nn.softmax(up, axis=-1), atol=1e-5)
    with pytest.raises(ValueError, match=r"missing \['depth'\]"):
        serving_call(loaded.signatures["serving_default"], rgb=images["rgb"])


def test_the_labels_signature_returns_serving_defaults_labels_alone(segmentation_run_dir, tmp_path):
    """serving_labels: the full set's labels, equal to serving_default's, and no probabilities (a
    labels caller is spared them); `Predictor(labels_only=True)`, which `cenkeras predict` uses, calls it."""
    from cenkeras.serving.predict import Predictor

    out = export_run(segmentation_run_dir, out=tmp_path / "m" / "1")
    loaded = tf.saved_model.load(str(out))
    assert json.loads(loaded.signatures["metadata"]()["cenkeras"].numpy())["labels_signature"] == "serving_labels"
    images = raw_images(seed=7)
    labels = serving_call(loaded.signatures["serving_labels"], **images)
    full = serving_call(loaded.signatures["serving_default"], **images)
    assert set(labels) == {"rgb_labels", "depth_labels", "ensemble_labels"}
    for key, value in labels.items():
        np.testing.assert_array_equal(value, full[key])
    assert set(Predictor(out, labels_only=True)(images)) == set(labels)
    assert set(Predictor(out)(images)) == set(full)


def test_the_savedmodel_holds_each_network_once(segmentation_run_dir, tmp_path):
    """Every signature of one input set calls the same network function: a loaded SavedModel costs
    memory per network copy (about 0.1 GB for RefineNet-101), and the file held five before."""
    from tensorflow.core.protobuf import saved_model_pb2

    out = export_run(segmentation_run_dir, out=tmp_path / "m" / "1")
    saved = saved_model_pb2.SavedModel.FromString((out / "saved_model.pb").read_bytes()).meta_graphs[0]
    with_convolutions = sorted(
        function.signature.name
        for function in saved.graph_def.library.function
        if any(node.op == "Conv2D" for node in function.node_def)
    )
    assert [name.split("_forward_")[-1].rsplit("_", 1)[0] for name in with_convolutions] == [
        "depth",
        "rgb",
        "rgb_and_depth",
    ], with_convolutions
    # Keras' own default signature of a saved model would be one more copy of the network.
    children = {child.local_name for node in saved.object_graph_def.nodes for child in node.children}
    assert "_default_save_signature" not in children


def test_versions_and_cli(segmentation_run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["export", str(segmentation_run_dir)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "saved_models" / "tiny" / "1" / "saved_model.pb").exists()
    assert next_version(tmp_path / "saved_models" / "tiny") == 2
    second = runner.invoke(cli, ["export", str(segmentation_run_dir), "--out", "saved_models/tiny/1"])
    assert second.exit_code == 1 and "already exists" in second.output


def test_translation_export_returns_uint8_images_at_input_size(tmp_path):
    run_dir = tmp_path / "run"
    get_task("translation").train(tiny_translation_recipe(), run_dir, data_dir=str(tmp_path / "tfds"), verbose=0)
    out = export_run(run_dir, out=tmp_path / "gen" / "1")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    rng = np.random.default_rng(0)
    images = {d: rng.integers(0, 256, (1, 40, 50, 3), dtype=np.uint8) for d in ("shade", "texture")}
    outputs = serving_call(serve, **images)
    assert set(outputs) == {"shade", "texture", "ensemble"}
    assert outputs["ensemble"].dtype == tf.uint8 and outputs["ensemble"].shape == (1, 40, 50, 3)
    alone = serving_call(tf.saved_model.load(str(out)).signatures["serving_texture"], texture=images["texture"])
    assert set(alone) == {"texture", "ensemble"} and alone["ensemble"].shape == (1, 40, 50, 3)
    # The images are the run's generator's: the same preprocessing, size and conversion in Keras.
    from cenkeras.training.runs import RunDirectory

    _, generator = get_task("translation").load_network(RunDirectory(run_dir))
    preprocessors = generator.preprocessors()
    inputs = {d: tf.image.resize(preprocessors[d](x), (32, 32), antialias=True) for d, x in images.items()}
    generated = generator(inputs, training=False)
    for name in ("shade", "texture", "ensemble"):
        expected = preprocessors["shade"].to_uint8(tf.image.resize(generated[name], (40, 50), method="bilinear"))
        difference = np.abs(outputs[name].numpy().astype(int) - expected.numpy().astype(int))
        assert difference.max() <= 1, name  # rounding of values on a .5 boundary at most


def test_predict_from_run_savedmodel_and_folders(segmentation_run_dir, tmp_path):
    from PIL import Image

    from cenkeras.serving.predict import colorize

    rng = np.random.default_rng(3)
    for folder in ("rgb", "depth"):
        (tmp_path / folder).mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "rgb" / f"{index}.png")
        Image.fromarray(rng.integers(0, 30000, (30, 40), dtype=np.uint16)).save(tmp_path / "depth" / f"{index}.png")
    saved = export_run(segmentation_run_dir, out=tmp_path / "sm" / "1")
    runner = CliRunner()
    results = {}
    for label, model in (("run", segmentation_run_dir), ("savedmodel", saved)):
        out = tmp_path / f"pred_{label}"
        result = runner.invoke(
            cli,
            [
                "predict",
                str(model),
                "--input",
                f"rgb={tmp_path / 'rgb'}",
                "--input",
                f"depth={tmp_path / 'depth'}",
                "--out",
                str(out),
                "--quiet",
            ],
        )
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in out.glob("*_labels.png")) == ["0_labels.png", "1_labels.png", "2_labels.png"]
        labels = np.asarray(Image.open(out / "1_labels.png"))
        assert labels.shape == (30, 40) and labels.max() < 6
        np.testing.assert_array_equal(np.asarray(Image.open(out / "1_color.png")), colorize(labels))
        overlay = np.asarray(Image.open(out / "1_overlay.png"))
        assert overlay.shape[0] == 30 and overlay.shape[1] > 120  # image | mask | blend | legend
        np.testing.assert_array_equal(overlay[:, 40:80], colorize(labels))
        # The legend starts with the largest class present, in its mask colour.
        largest = np.bincount(labels.ravel()).argmax()
        assert (overlay[:, 120:] == colorize(np.array([[largest]]))[0, 0]).all(axis=-1).sum() >= 25
        results[label] = labels
    np.testing.assert_array_equal(results["run"], results["savedmodel"])
    # The export names the classes (the synthetic scenes' own), for clients' legends.
    from cenkeras.data.synthetic import CLASS_NAMES
    from cenkeras.serving.predict import Predictor

    assert Predictor(saved).class_names == list(CLASS_NAMES)

    single = runner.invoke(
        cli,
        [
            "predict",
            str(saved),
            "--input",
            f"rgb={tmp_path / 'rgb' / '0.png'}",
            "--out",
            str(tmp_path / "x"),
            "--quiet",
        ],
    )
    # Without its depth input the model runs from rgb alone (the export's serving_rgb signature).
    assert single.exit_code == 0, single.output
    assert np.asarray(Image.open(tmp_path / "x" / "0_labels.png")).shape == (30, 40)
    # From depth alone, through the console script: the overlay's backdrop is the depth image.
    from harness import run_cli

    from cenkeras.serving.predict import overlay_backdrop, Predictor

    depth_file = tmp_path / "depth" / "0.png"
    for label, model in (("run", segmentation_run_dir), ("savedmodel", saved)):
        done = run_cli("predict", model, "--input", f"depth={depth_file}", "--out", tmp_path / f"d_{label}", "--quiet")
        assert done.returncode == 0, done.stderr[-2000:]
        overlay = np.asarray(Image.open(tmp_path / f"d_{label}" / "0_overlay.png"))
        predictor = Predictor(saved)
        expected = overlay_backdrop({"depth": predictor.read("depth", depth_file)}, predictor.preprocessors)
        np.testing.assert_array_equal(overlay[:, :40], expected)
        assert expected.std() > 10  # a depth image, not a black backdrop
    foreign = runner.invoke(
        cli, ["predict", str(saved), "--input", f"hha={tmp_path / 'rgb' / '0.png'}", "--out", str(tmp_path / "y")]
    )
    assert foreign.exit_code == 1 and "missing ['rgb', 'depth'], unexpected ['hha']" in foreign.output
    (tmp_path / "depth" / "2.png").unlink()
    unpaired = runner.invoke(
        cli,
        [
            "predict",
            str(saved),
            "--input",
            f"rgb={tmp_path / 'rgb'}",
            "--input",
            f"depth={tmp_path / 'depth'}",
            "--out",
            str(tmp_path / "y"),
        ],
    )
    assert unpaired.exit_code == 1 and "do not pair up" in unpaired.output
    Image.fromarray(rng.integers(0, 30000, (30, 41), dtype=np.uint16)).save(tmp_path / "depth" / "2.png")
    for model in (segmentation_run_dir, saved):
        mismatched = runner.invoke(
            cli,
            [
                "predict",
                str(model),
                "--input",
                f"rgb={tmp_path / 'rgb'}",
                "--input",
                f"depth={tmp_path / 'depth'}",
                "--out",
                str(tmp_path / "z"),
            ],
        )
        assert mismatched.exit_code == 1, mismatched.output
        assert "must have the same size" in mismatched.output and "2.png': '41x30'" in mismatched.output
        assert "Traceback" not in mismatched.output


def test_inspect_writes_table_chart_and_feature_maps(segmentation_run_dir, tmp_path):
    from PIL import Image

    from cenkeras.tasks.run_models import load_run_model
    from cenkeras.experiments.visualize import exchange_feature_maps

    rng = np.random.default_rng(4)
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(tmp_path / "rgb.png")
    Image.fromarray(rng.integers(0, 30000, (32, 48), dtype=np.uint16)).save(tmp_path / "depth.png")
    out = tmp_path / "inspect"
    result = CliRunner().invoke(
        cli,
        [
            "inspect",
            str(segmentation_run_dir),
            "--input",
            f"rgb={tmp_path / 'rgb.png'}",
            "--input",
            f"depth={tmp_path / 'depth.png'}",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| layer1.0.bn2 | rgb |" in result.output and "softmax(alpha)" in result.output
    assert (out / "exchange_fractions.png").stat().st_size > 1000
    assert len(list(out.glob("feature_maps_*.png"))) == 1
    # Through the console script, a chosen layer, no --out: the run's own inspect folder.
    from harness import run_cli

    inputs = ("--input", f"rgb={tmp_path / 'rgb.png'}", "--input", f"depth={tmp_path / 'depth.png'}")
    done = run_cli("inspect", segmentation_run_dir, *inputs, "--layer", "layer3.0.bn2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    own = segmentation_run_dir / "inspect"
    assert (own / "feature_maps_layer3.0.bn2.png").stat().st_size > 1000 and (own / "exchange_fractions.png").exists()
    assert not (tmp_path / "inspect" / "feature_maps_layer3.0.bn2.png").exists()

    # The figure's groups follow the masks: force an exchange and check the maps.
    _, model = load_run_model(segmentation_run_dir)
    layer = model.get_layer("layer2.0.bn2")
    gamma = layer.norms[0].gamma.numpy()
    gamma[:3] = 0.0  # rgb receives channels 0-2 from depth
    layer.norms[0].gamma.assign(gamma)
    x = {
        "rgb": rng.normal(size=(1, 32, 48, 3)).astype("float32"),
        "depth": rng.normal(size=(1, 32, 48, 3)).astype("float32"),
    }
    maps = exchange_feature_maps(model, x, "layer2.0.bn2")
    probe = keras_outputs(model, x, "layer2.0.bn2")
    np.testing.assert_allclose(maps["rgb"]["received"], probe[0][0][..., :3].mean(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps["depth"]["given"], probe[1][0][..., :3].mean(-1), rtol=1e-5, atol=1e-6)


def keras_outputs(model, x, layer_name):
    import keras

    outputs = keras.Model(model.inputs, model.get_layer(layer_name).output)(x, training=False)
    if not isinstance(outputs, (list, tuple)):  # stacked streams: stream m is the m-th batch block
        return np.split(outputs.numpy(), len(model.modalities), axis=0)
    return [o.numpy() for o in outputs]


def test_metadata_signature_describes_inputs(segmentation_run_dir, tmp_path):
    out = export_run(segmentation_run_dir, out=tmp_path / "meta" / "1")
    metadata = tf.saved_model.load(str(out)).signatures["metadata"]()
    assert metadata["depth_preprocessing"].numpy().decode().startswith("uint16, 1 channel")
    assert "mean [0.485, 0.456, 0.406]" in metadata["rgb_preprocessing"].numpy().decode()
    assert json.loads((out / "assets.extra" / "cenkeras.json").read_text())["task"] == "segmentation"


@pytest.mark.parametrize("fusion", ["align", "self_attention"])
def test_fusion_baselines_export_and_serve(tmp_path, fusion):
    """A baseline's fusion layers trace into the serving signature (the MMD loss only in training)."""
    from cenkeras.serving.export import SegmentationServing

    recipe = tiny_recipe()
    recipe.model.fusion.method, recipe.model.fusion.stage = fusion, "all"
    segmenter = segmentation_run.build_segmenter(recipe)
    module = SegmentationServing(segmenter)
    tf.saved_model.save(module, str(tmp_path / "1"), signatures={"serving_default": module.serve})
    serve = tf.saved_model.load(str(tmp_path / "1")).signatures["serving_default"]
    images = raw_images(height=32, width=48)
    outputs = serving_call(serve, **images)
    # The served outputs are the network's own, fusion layers included (not only their shape).
    inputs = {name: normalize(tf.cast(images[name], tf.float32), recipe.data.modalities[name]) for name in images}
    logits = segmenter(inputs, training=False)
    for name in ("rgb", "depth", "ensemble"):
        probabilities = tf.nn.softmax(tf.image.resize(logits[name], (32, 48), method="bilinear"), axis=-1).numpy()
        np.testing.assert_allclose(outputs[f"{name}_probabilities"], probabilities, atol=1e-5)
        assert np.mean(outputs[f"{name}_labels"] == probabilities.argmax(-1)) >= 0.999


def test_channel_selection_travels_with_the_model(tmp_path):
    """An RGB-thermal model reads its two inputs from one 4-channel file: the .keras file and the
    exported SavedModel both know which channels, and predict picks them."""
    from PIL import Image

    from cenkeras.config import ModalityConfig
    from cenkeras.serving.export import SegmentationServing
    from cenkeras.serving.predict import Predictor

    recipe = tiny_recipe()
    recipe.data.modalities = {
        "rgb": ModalityConfig(kind="rgb", channels=(0, 1, 2)),
        "thermal": ModalityConfig(kind="gray", column=2, channels=(3,)),
    }
    segmenter = segmentation_run.build_segmenter(recipe)
    segmenter.save(tmp_path / "model.keras")
    module = SegmentationServing(segmenter)
    tf.saved_model.save(module, str(tmp_path / "served"), signatures=module.signatures())
    frame = np.random.default_rng(2).integers(0, 256, (24, 40, 4), dtype=np.uint8)
    Image.fromarray(frame, mode="RGBA").save(tmp_path / "frame.png")
    for path in (tmp_path / "model.keras", tmp_path / "served"):
        predictor = Predictor(path)
        np.testing.assert_array_equal(predictor.read("thermal", tmp_path / "frame.png")[0], frame[..., 3:])
        np.testing.assert_array_equal(predictor.read("rgb", tmp_path / "frame.png")[0], frame[..., :3])
        assert predictor.preprocessors["thermal"].channels == (3,)
    assert (
        "channels [3] of the file"
        in json.loads(module.metadata()["cenkeras"].numpy())["inputs"]["thermal"]["preprocessing"]
    )


def test_a_keras_file_alone_says_how_to_feed_it(tmp_path):
    """A .keras saved from a min-max depth (SUN RGB-D style), gray-image recipe predicts exactly as
    its run directory: the file carries its preprocessing; nothing is guessed from input names."""
    from PIL import Image

    from cenkeras.config import ModalityConfig
    from cenkeras.training.runs import RunDirectory
    from cenkeras.serving.predict import Predictor, legacy_preprocessors

    recipe = tiny_recipe()
    recipe.data.modalities = {
        "rgb": ModalityConfig(kind="gray", mean=(0.4, 0.4, 0.4), std=(0.3, 0.3, 0.3)),
        "depth": ModalityConfig(kind="depth", column=2, depth_mode="minmax"),
    }
    segmenter = segmentation_run.build_segmenter(recipe)
    run = RunDirectory(tmp_path / "run")
    run.create(recipe)
    segmenter.save_weights(str(run.best_weights))
    segmenter.save(tmp_path / "model.keras")

    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (24, 40), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(2000, 9000, (24, 40), dtype=np.uint16)).save(tmp_path / "depth.png")
    files = {"rgb": tmp_path / "gray.png", "depth": tmp_path / "depth.png"}
    outputs = {}
    for label, model in (("run", load_run_model(run.path)[1]), ("keras", tmp_path / "model.keras")):
        predictor = Predictor(model)
        assert predictor.kinds == {"rgb": "gray", "depth": "depth"}
        outputs[label] = predictor({name: predictor.read(name, file) for name, file in files.items()})
    assert outputs["run"]["ensemble_probabilities"].shape == (1, 24, 40, 6)
    for key in outputs["run"]:
        np.testing.assert_array_equal(outputs["keras"][key], outputs["run"][key])

    # What earlier versions did with a .keras file (guess by name: depth scaled, rgb as colour)
    # reads these inputs differently.
    guessed = legacy_preprocessors(segmenter)
    assert guessed["depth"].depth_mode == "scale" and guessed["rgb"].kind == "rgb"


def test_the_figure_3_view_shows_the_inputs_and_says_when_a_group_has_no_channel(tmp_path):
    """Empty groups are None in the maps and a sentence in the figure, not a blank panel."""
    from cenkeras.experiments.visualize import plot_feature_maps

    maps = {
        "rgb": {"received": np.ones((4, 6)), "given": None, "kept": np.zeros((4, 6))},
        "depth": {"received": None, "given": np.ones((4, 6)), "kept": np.zeros((4, 6))},
    }
    images = {name: np.zeros((16, 24, 3), np.uint8) for name in maps}
    path = plot_feature_maps(maps, tmp_path / "figure.png", title="layer2.0.bn2", images=images)
    assert path.stat().st_size > 1000


def test_weights_and_output_options_through_the_console_script(segmentation_run_dir, tmp_path):
    """`eval --weights`, `export --weights` and `predict --output`, as a user runs them: other weights
    (the run's, perturbed) give their own scores and their own SavedModel; --output picks the map."""
    from PIL import Image

    from harness import run_cli

    from cenkeras.serving.predict import Predictor
    from cenkeras.tasks.run_models import load_run_model

    recipe, model = load_run_model(segmentation_run_dir)
    images = raw_images(seed=3)
    inputs = {name: normalize(tf.cast(images[name], tf.float32), recipe.data.modalities[name]) for name in images}

    def probabilities():  # the Keras model's, as a SavedModel serves them
        up = tf.image.resize(model(inputs, training=False)["ensemble"], (37, 53), method="bilinear")
        return tf.nn.softmax(up, axis=-1).numpy()

    default = probabilities()
    rng = np.random.default_rng(7)
    for variable in model.trainable_weights:
        variable.assign(variable.numpy() + rng.normal(scale=0.05, size=variable.shape).astype("float32"))
    other = tmp_path / "other.weights.h5"
    model.save_weights(other)
    data_dir = segmentation_run_dir.parent / "tfds"

    evaluated = run_cli("eval", segmentation_run_dir, "--data-dir", data_dir, "--weights", other, "--quiet")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    saved = json.loads((segmentation_run_dir / "eval.json").read_text())
    assert saved["weights"] == str(other)
    direct = get_task("segmentation").evaluate(
        segmentation_run_dir, data_dir=str(data_dir), weights=other, verbose=0, out_file=tmp_path / "direct.json"
    )
    assert saved["scores"]["ensemble"]["mean_iou"] == pytest.approx(direct["ensemble"]["mean_iou"])

    exported = run_cli("export", segmentation_run_dir, "--weights", other, "--out", tmp_path / "other" / "1")
    assert exported.returncode == 0, exported.stderr[-2000:]
    # The export's .keras file loads in the command, which imports the model classes only when needed.
    inspected = run_cli("inspect", tmp_path / "other" / "1" / "model.keras", "--out", tmp_path / "inspected")
    assert inspected.returncode == 0 and "softmax(alpha)" in inspected.stdout, inspected.stderr[-2000:]
    served = Predictor(tmp_path / "other" / "1")(images)["ensemble_probabilities"]
    np.testing.assert_allclose(served, probabilities(), atol=1e-5)
    assert np.abs(served - default).max() > 1e-3  # the other weights, not the run's best

    Image.fromarray(images["rgb"][0]).save(tmp_path / "a.png")
    Image.fromarray(images["depth"][0, ..., 0]).save(tmp_path / "a_depth.png")
    files = ("--input", f"rgb={tmp_path / 'a.png'}", "--input", f"depth={tmp_path / 'a_depth.png'}")
    labels = {}
    done = run_cli("predict", tmp_path / "other" / "1", *files, "--output", "ensemble", "--out", tmp_path / "ensemble")
    assert done.returncode == 0, done.stderr[-2000:]
    # The same command in this process for the second map (its path through the console script is the first's).
    args = ["predict", str(tmp_path / "other" / "1"), *files, "--output", "depth", "--out", str(tmp_path / "depth")]
    assert CliRunner().invoke(cli, args).exit_code == 0
    for output in ("ensemble", "depth"):
        labels[output] = np.asarray(Image.open(tmp_path / output / "a_labels.png"))
    expected = Predictor(tmp_path / "other" / "1")({k: v[:1] for k, v in images.items()})
    for output, written in labels.items():
        np.testing.assert_array_equal(written, expected[f"{output}_labels"][0])
