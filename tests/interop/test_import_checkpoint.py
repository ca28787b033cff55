"""import-torch: an official-layout checkpoint becomes a run directory that eval/export/predict accept."""

import numpy as np
import pytest
from click.testing import CliRunner

from cenkeras.cli.main import cli
from cenkeras.interop import export_torch_state_dict
from cenkeras.training.runs import RunDirectory
from harness import official_layout

RECIPE = """
from cenkeras.recipes.synthetic_rgbd import recipe as base
def recipe():
    r = base()
    r.model.base_width = 4
    r.model.decoder_width = 8
    return r
"""


def official_state(tmp_path):
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.tasks.segmentation_run import build_segmenter

    (tmp_path / "tiny.py").write_text(RECIPE)
    model = build_segmenter(load_recipe(str(tmp_path / "tiny.py")))
    for variable in model.weights:
        variable.assign(np.random.default_rng(0).uniform(0.5, 1.0, variable.shape).astype("float32"))
    return model, official_layout(export_torch_state_dict(model))


def test_npz_checkpoint_imports_into_a_run_directory(tmp_path):
    model, state = official_state(tmp_path)
    np.savez(tmp_path / "ckpt.npz", **state)
    result = CliRunner().invoke(
        cli,
        [
            "import-torch",
            str(tmp_path / "ckpt.npz"),
            "--recipe",
            str(tmp_path / "tiny.py"),
            "--out",
            str(tmp_path / "imported"),
        ],
    )
    assert result.exit_code == 0, result.output
    run = RunDirectory(tmp_path / "imported")
    assert run.best_weights.exists() and (run.path / "model.keras").exists()
    from cenkeras.tasks.run_models import load_run_model

    _, loaded = load_run_model(run.path)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    bad = dict(state)
    bad.pop("module.alpha")
    np.savez(tmp_path / "bad.npz", **bad)
    result = CliRunner().invoke(
        cli,
        [
            "import-torch",
            str(tmp_path / "bad.npz"),
            "--recipe",
            str(tmp_path / "tiny.py"),
            "--out",
            str(tmp_path / "bad_run"),
        ],
    )
    assert result.exit_code == 1 and "missing keys" in result.output and "alpha" in result.output


def test_pth_checkpoint_with_torch(tmp_path):
    torch = pytest.importorskip("torch")
    model, state = official_state(tmp_path)
    checkpoint = {
        "segmenter": {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()},
        "epoch_start": 3,
    }
    torch.save(checkpoint, tmp_path / "ckpt.pth")
    result = CliRunner().invoke(
        cli,
        [
            "import-torch",
            str(tmp_path / "ckpt.pth"),
            "--recipe",
            str(tmp_path / "tiny.py"),
            "--out",
            str(tmp_path / "imported"),
        ],
    )
    assert result.exit_code == 0, result.output
    # The weights of the .pth (found under its "segmenter" key) are the run's, value for value.
    from cenkeras.tasks.run_models import load_run_model

    _, loaded = load_run_model(tmp_path / "imported")
    assert len(model.get_weights()) == len(loaded.get_weights())
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
