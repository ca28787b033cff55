"""A PSPNet recipe goes through what a RefineNet recipe does: ImageNet encoder weights, training,
evaluation, export and serving; the recipe key and the console script name bad values."""

import numpy as np
import pytest
import tensorflow as tf

from cenkeras.config import ConfigError
from cenkeras.tasks.run_models import export_run, load_run_model
from cenkeras.data.modalities import normalize
from cenkeras.models import CENPSPNet
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.tasks import get_task
from cenkeras.tasks.segmentation_run import build_segmenter, load_backbone
from tiny_recipe import tiny_recipe, write_backbone
from harness import run_cli

# A tiny PSPNet trained, evaluated and exported.
pytestmark = pytest.mark.slow


def tiny_pspnet_recipe():
    recipe = tiny_recipe(epochs=(1,))
    recipe.model.architecture = "pspnet"
    recipe.model.dropout = 0.1
    return recipe


@pytest.fixture(scope="module")
def pspnet_run(tmp_path_factory):
    """A tiny PSPNet trained one epoch from a torchvision-named encoder file, with frozen encoder
    statistics (the recipes' setting)."""
    root = tmp_path_factory.mktemp("pspnet")
    recipe = tiny_pspnet_recipe()
    path, state = write_backbone(tiny_recipe(epochs=(1,)), root / "resnet.npz")  # a RefineNet's encoder keys
    recipe.model.backbone_weights = path
    recipe.train.freeze_bn = True
    get_task("segmentation").train(recipe, root / "run", data_dir=str(root / "tfds"), verbose=0)
    return root / "run", state


def test_imagenet_weights_fill_the_dilated_encoder(tmp_path):
    recipe = tiny_pspnet_recipe()
    path, state = write_backbone(tiny_recipe(epochs=(1,)), tmp_path / "resnet.safetensors")
    model = build_segmenter(recipe)
    assert isinstance(model, CENPSPNet)
    report = load_backbone(model, path, verbose=0)
    assert report.unexpected == ["fc.weight"]
    assert not [key for key in report.missing if key.startswith(("conv1.", "bn1.", "layer"))]
    np.testing.assert_allclose(
        model.get_layer("layer4.0.conv2").kernel.numpy(), np.transpose(state["layer4.0.conv2.weight"], (2, 3, 1, 0))
    )


def test_trained_run_keeps_frozen_encoder_statistics_and_learns_the_decoders(pspnet_run):
    run_dir, state = pspnet_run
    _, model = load_run_model(run_dir)
    for norm in model.get_layer("layer3.0.bn2").norms:
        np.testing.assert_array_equal(norm.moving_variance.numpy(), state["layer3.0.bn2.running_var"])
    assert not np.allclose(model.get_layer("ppm.features.3.1").norms[0].moving_mean.numpy(), 0.0)
    metrics = (run_dir / "metrics.jsonl").read_text()
    assert '"auxiliary_loss"' in metrics and '"val_ensemble_miou"' in metrics


def test_evaluation_and_the_savedmodel_serve_the_main_outputs(pspnet_run, tmp_path):
    run_dir, _ = pspnet_run
    scores = get_task("segmentation").evaluate(run_dir, verbose=0)
    assert sorted(scores) == ["depth", "ensemble", "rgb"]

    out = export_run(run_dir, out=tmp_path / "saved" / "1")
    serve = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert not [name for name in serve.structured_outputs if "auxiliary" in name]
    rng = np.random.default_rng(0)
    images = {
        "rgb": rng.integers(0, 256, (1, 40, 56, 3), dtype=np.uint8),
        "depth": rng.integers(0, 40000, (1, 40, 56, 1), dtype=np.uint16),
    }
    served = serve(**{name: tf.constant(value) for name, value in images.items()})
    recipe, model = load_run_model(run_dir)
    inputs = {name: normalize(tf.cast(images[name], tf.float32), recipe.data.modalities[name]) for name in images}
    logits = model(inputs, training=False)
    for name in ("rgb", "depth", "ensemble"):
        want = tf.nn.softmax(tf.image.resize(logits[name], (40, 56), method="bilinear"), axis=-1).numpy()
        np.testing.assert_allclose(served[f"{name}_probabilities"].numpy(), want, atol=1e-5)


@pytest.mark.parametrize("name", ["nyudv2_pspnet152", "sunrgbd_pspnet152"])
def test_the_papers_pspnet_recipes(name):
    recipe = load_recipe(name).validate()
    model = recipe.model
    assert (model.architecture, model.depth, model.decoder.pyramid_bins, model.decoder.auxiliary_weight) == (
        "pspnet",
        152,
        (1, 2, 3, 6),
        0.4,
    )
    assert get_task("segmentation").summary(recipe)["model"] == "PSPNet-152"


def test_unknown_architecture_is_a_config_error():
    recipe = tiny_pspnet_recipe()
    recipe.model.architecture = "deeplab"
    with pytest.raises(ConfigError, match="model.architecture"):
        recipe.validate()
    recipe.model.architecture = "pspnet"
    recipe.model.decoder.pyramid_bins = (1, 2.5)
    with pytest.raises(ConfigError, match=r"model.decoder \(pspnet\): pyramid_bins"):
        recipe.validate()


def test_console_script_names_a_bad_architecture(tmp_path):
    done = run_cli("train", "--run-dir", tmp_path / "r", "--set", "model.architecture=psp", "--quiet", timeout=180)
    assert done.returncode != 0
    assert "model.architecture" in done.stderr + done.stdout and "pspnet" in done.stderr + done.stdout


def test_predict_and_inspect_a_pspnet_run(pspnet_run, tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from cenkeras.cli.main import cli

    run_dir, _ = pspnet_run
    rng = np.random.default_rng(3)
    for folder in ("rgb", "depth"):
        (tmp_path / folder).mkdir()
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(tmp_path / "rgb" / "0.png")
    Image.fromarray(rng.integers(0, 30000, (30, 40), dtype=np.uint16)).save(tmp_path / "depth" / "0.png")
    runner = CliRunner()
    inputs = ["--input", f"rgb={tmp_path / 'rgb'}", "--input", f"depth={tmp_path / 'depth'}"]
    predicted = runner.invoke(cli, ["predict", str(run_dir), *inputs, "--out", str(tmp_path / "pred"), "--quiet"])
    assert predicted.exit_code == 0, predicted.output
    labels = np.asarray(Image.open(tmp_path / "pred" / "0_labels.png"))
    assert labels.shape == (30, 40) and labels.max() < 6
    inspected = runner.invoke(cli, ["inspect", str(run_dir), "--out", str(tmp_path / "inspect")])
    assert inspected.exit_code == 0, inspected.output
    assert "layer3.0.bn2" in inspected.output and "softmax(alpha)" in inspected.output
    assert "ppm." not in inspected.output  # the decoder's norms do not exchange


def test_inspect_names_a_concat_ensemble(tmp_path):
    from click.testing import CliRunner

    from cenkeras.cli.main import cli
    from cenkeras.models import build_refinenet, tiny_options

    path = tmp_path / "concat.keras"
    build_refinenet(50, 5, ["rgb", "depth"], ensemble="concat", **tiny_options()).save(path)
    inspected = CliRunner().invoke(cli, ["inspect", str(path), "--out", str(tmp_path / "inspect")])
    assert inspected.exit_code == 0, inspected.output
    assert "concat-fusion block" in inspected.output and "softmax(alpha)" not in inspected.output
