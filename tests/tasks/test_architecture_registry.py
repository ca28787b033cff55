"""Architectures behind a registry: a name, a builder and its own option section. One from another
package (an entry point) trains, evaluates and exports through the console script like the built-in
ones; unknown and broken entries are errors that name them."""

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from cenkeras.config import ConfigError, apply_overrides, recipe_from_dict, to_dict
from cenkeras.models.architectures import (
    ENTRY_POINT_GROUP,
    Architecture,
    architecture_names,
    get_architecture,
    register_architecture,
)
from cenkeras.models.pspnet import PSPNetOptions
from cenkeras.tasks.segmentation_run import build_segmenter, describe_segmenter
from harness import run_cli
from tiny_recipe import tiny_recipe

# A plug-in architecture trained, evaluated and exported through the console script.
pytestmark = pytest.mark.slow

PLUGINS = Path(__file__).parent / "plugins"
# The run of the console-script test: synthetic scenes, the toy head, one short epoch.
TINY_TOY_RUN = [
    "model.architecture=toy",
    "model.decoder.head_width=6",
    "model.stage_blocks=1,1,1,1",
    "model.base_width=4",
    "data.synthetic.num_train=8",
    "data.synthetic.num_val=4",
    "data.synthetic.height=32",
    "data.synthetic.width=32",
    "data.crop_size=32",
    "data.shorter_side=32",
    "train.epochs=1",
    "train.lr_encoder=1e-2",
    "train.lr_decoder=1e-2",
    "train.warmup_steps=0",
    "train.batch_size=4",
    "train.val_every=1",
    "train.precision=float32",
    "eval.batch_size=4",
]


def install_plugin(site):
    """A distribution's metadata declaring the toy architecture as an entry point, as `pip install`
    leaves it, in the folder `site` (put on the path with the plugin's module)."""
    info = site / "toy_architecture-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-architecture\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\ntoy = toy_architecture:ARCHITECTURE\n")
    return os.pathsep.join([str(site), str(PLUGINS)])


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    path = install_plugin(tmp_path / "site")
    for folder in reversed(path.split(os.pathsep)):
        monkeypatch.syspath_prepend(folder)
    yield path
    sys.modules.pop("toy_architecture", None)


def test_built_in_entries():
    assert {"pspnet", "refinenet"} <= set(architecture_names())
    assert get_architecture("pspnet").options is PSPNetOptions
    with pytest.raises(ValueError, match=r"unknown architecture 'deeplab'.*'pspnet', 'refinenet'"):
        get_architecture("deeplab")


def test_pspnet_options_live_in_its_section_and_follow_the_architecture():
    recipe = tiny_recipe()
    assert dataclasses.asdict(recipe.model.decoder) == {}  # RefineNet has no options of its own
    apply_overrides(recipe, ["model.architecture=pspnet", "model.decoder.pyramid_bins=1,3"])
    assert recipe.model.decoder == PSPNetOptions(pyramid_bins=(1, 3))
    assert build_segmenter(recipe).pyramid_bins == [1, 3]
    assert recipe_from_dict(to_dict(recipe)).model.decoder == PSPNetOptions(pyramid_bins=(1, 3))
    with pytest.raises(ConfigError, match=r"model.decoder.pyramid_bins.*have \[\] here"):
        apply_overrides(recipe, ["model.architecture=refinenet", "model.decoder.pyramid_bins=1"])


def test_recipes_written_with_the_flat_pspnet_keys_load():
    """recipe.json files of earlier versions held PSPNet's options flat in every recipe's model section."""
    recipe = tiny_recipe()
    recipe.model.architecture = "pspnet"
    saved = to_dict(recipe)
    del saved["model"]["decoder"]
    saved["model"].update(pyramid_bins=[1, 2], auxiliary_weight=0.25)
    assert recipe_from_dict(saved).model.decoder == PSPNetOptions((1, 2), 0.25)
    saved["model"]["architecture"] = "refinenet"  # RefineNet ignored them: they go
    assert dataclasses.asdict(recipe_from_dict(saved).model.decoder) == {}
    # A recipe file of an earlier version sets them where they are now; a line that would be
    # ignored is an error.
    recipe.model.pyramid_bins = (1, 2)
    assert recipe.model.decoder == PSPNetOptions((1, 2))
    recipe.model.threshold = 0.05
    assert recipe.model.exchange.threshold == 0.05
    with pytest.raises(AttributeError, match="not an option of architecture 'refinenet'"):
        tiny_recipe().model.auxiliary_weight = 0.2
    with pytest.raises(AttributeError, match="model.pyramid_bin is not a recipe option"):
        recipe.model.pyramid_bin = (1, 2)


def test_register_in_process_and_refuse_a_taken_name(plugin_on_path):
    import toy_architecture

    architecture = Architecture("toy_in_process", "Toy", toy_architecture.build_toy, toy_architecture.ToyOptions)
    assert register_architecture(architecture) is architecture
    recipe = tiny_recipe()
    recipe.model.architecture = "toy_in_process"
    recipe.model.stage_blocks = (1, 1, 1, 1)
    recipe.validate()
    assert describe_segmenter(recipe.model) == "Toy (blocks [1, 1, 1, 1], width 4)"
    model = build_segmenter(recipe)
    assert isinstance(model, toy_architecture.ToySegmenter) and model.head_width == 8
    with pytest.raises(ValueError, match="already registered"):
        register_architecture(Architecture("pspnet", "Other", toy_architecture.build_toy))
    with pytest.raises(ValueError, match="options must be a dataclass"):
        Architecture("bad", "Bad", toy_architecture.build_toy, options=dict)


def test_an_entry_that_fails_to_load_is_named(tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "broken-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nbroken = no_such_module:ARCHITECTURE\n")
    monkeypatch.syspath_prepend(str(site))
    assert "broken" in architecture_names()
    with pytest.raises(ValueError, match="'broken' .*no_such_module:ARCHITECTURE.*failed to load"):
        get_architecture("broken")


def test_an_architecture_of_another_package_trains_evaluates_and_exports(tmp_path):
    env = {**os.environ, "PYTHONPATH": install_plugin(tmp_path / "site")}
    run_dir, data_dir, out = tmp_path / "run", tmp_path / "tfds", tmp_path / "exported"
    settings = [arg for item in TINY_TOY_RUN for arg in ("--set", item)]
    trained = run_cli("train", "--run-dir", run_dir, "--data-dir", data_dir, *settings, "--quiet", env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "ToyNet (blocks [1, 1, 1, 1], width 4)" in trained.stdout
    assert json.loads((run_dir / "recipe.json").read_text())["model"]["decoder"] == {"head_width": 6}

    evaluated = run_cli("eval", run_dir, "--data-dir", data_dir, env=env)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    scores = json.loads((run_dir / "eval.json").read_text())["scores"]
    assert set(scores) == {"rgb", "depth", "ensemble"} and scores["ensemble"]["mean_iou"] > 0

    exported = run_cli("export", run_dir, "--out", out, env=env)
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (out / "saved_model.pb").is_file()
    import keras
    import tensorflow as tf

    sys.path.insert(0, str(PLUGINS))
    try:
        import toy_architecture  # noqa: F401  (registers the class, as a user's import of the plugin does)

        model = keras.saving.load_model(out / "model.keras")
    finally:
        sys.path.remove(str(PLUGINS))
        sys.modules.pop("toy_architecture", None)
    assert type(model).__name__ == "ToySegmenter" and model.head_width == 6
    served = tf.saved_model.load(str(out))
    image = np.zeros((1, 32, 32, 3), np.uint8)
    depth = np.zeros((1, 32, 32, 1), np.uint16)
    signature = served.signatures["serving_default"]
    names = set(signature.structured_input_signature[1])
    result = signature(**{name: tf.constant(image if "rgb" in name else depth) for name in names})
    assert np.asarray(result["ensemble_labels"]).shape == (1, 32, 32), {name: v.shape for name, v in result.items()}
