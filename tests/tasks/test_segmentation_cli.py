"""Segmentation runs through the console script: evaluation protocols, distribution options.

Apart from test_segmentation_runs.py so that the two modules' runs go to different test workers.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from harness import run_cli
from cenkeras.training.runs import RunDirectory
from cenkeras.tasks import get_task
from tiny_recipe import tiny_recipe

# Each test trains a tiny run and runs the console script.
pytestmark = pytest.mark.slow

train = get_task("segmentation").train


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


def test_eval_runs_the_multi_scale_protocol_asked_through_the_console_script(tmp_path, data_dir):
    """`cenkeras eval --multi-scale` runs RefineNet's scales (the paper's), `--protocol pspnet`
    PSPNet's with flips, `--no-flip` drops the flips. The eval file records the scales and flip the
    evaluation ran with (the averaging over views has its own test in test_segmentation_runs)."""
    from cenkeras.data.pipeline import evaluation_dataset, raw_dataset
    from cenkeras.tasks.run_models import load_run_model
    from cenkeras.tasks.segmentation import evaluate_segmenter

    run_dir = tmp_path / "run"
    train(tiny_recipe(epochs=(1,)), run_dir, data_dir=data_dir, verbose=0)
    recipe, segmenter = load_run_model(run_dir)
    raw, _ = raw_dataset("validation", recipe.data, recipe.model.num_classes, Path(data_dir))

    def mean_ious(scores):
        return {output: round(s["mean_iou"], 6) for output, s in scores.items()}

    def cenkeras_eval(*args):
        done = run_cli("eval", run_dir, "--data-dir", data_dir, "--quiet", *args)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(RunDirectory(run_dir).eval_file.read_text())

    saved = cenkeras_eval("--multi-scale")
    assert (saved["protocol"], saved["scales"], saved["flip"]) == ("refinenet", [0.4, 0.6, 0.8, 1.0, 1.2], False)
    dataset = evaluation_dataset(raw, recipe.data, recipe.eval.batch_size)
    expected = evaluate_segmenter(segmenter, dataset, recipe.model.num_classes, scales=saved["scales"], verbose=0)
    assert mean_ious(saved["scores"]) == mean_ious(expected)
    # The other protocols in this process (the console script's path is the one above).
    from click.testing import CliRunner

    from cenkeras.cli.main import cli

    def eval_in_process(*args):
        done = CliRunner().invoke(cli, ["eval", str(run_dir), "--data-dir", data_dir, "--quiet", *args])
        assert done.exit_code == 0, done.output
        return json.loads(RunDirectory(run_dir).eval_file.read_text())

    saved = eval_in_process("--protocol", "pspnet")
    assert (saved["protocol"], saved["flip"], saved["samples"]) == ("pspnet", True, 4)
    assert saved["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    saved = eval_in_process("--protocol", "pspnet", "--no-flip")
    assert saved["flip"] is False and saved["scales"] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert set(saved["scores"]) == {"rgb", "depth", "ensemble"}


def test_train_strategy_and_deterministic_options_through_the_console_script(tmp_path, data_dir):
    """`--strategy mirrored --deterministic`: recorded in the run's recipe, and two runs end with the
    same weights (what --deterministic promises)."""
    import h5py

    recipe_file = tmp_path / "tiny.py"
    recipe_file.write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom tiny_recipe import tiny_recipe\n"
        "def recipe():\n    return tiny_recipe(epochs=(1,))\n" % str(Path(__file__).parent)
    )
    weights = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        args = ("--data-dir", data_dir, "--run-dir", run_dir, "--strategy", "mirrored", "--deterministic", "--quiet")
        done = run_cli("train", recipe_file, *args)
        assert done.returncode == 0, done.stderr[-2000:]
        saved = RunDirectory(run_dir).load_recipe().train
        assert (saved.strategy, saved.deterministic) == ("mirrored", True)
        with h5py.File(RunDirectory(run_dir).last_weights) as file:
            values = []
            file.visititems(lambda _, item: values.append(item[()]) if isinstance(item, h5py.Dataset) else None)
        weights.append(values)
    assert len(weights[0]) > 10
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)
