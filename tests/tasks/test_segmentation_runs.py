"""Training runs end to end on tiny synthetic data: run directory, resume, CLI, errors."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner

from cenkeras.cli.main import cli
from harness import run_cli
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.training.runs import RunDirectory, RunError
from cenkeras.tasks import get_task
from tiny_recipe import tiny_recipe, write_backbone

# Each test trains a tiny run.
pytestmark = pytest.mark.slow

SEGMENTATION = get_task("segmentation")
train, evaluate_run = SEGMENTATION.train, SEGMENTATION.evaluate


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Stops training with an exception in the middle of `epoch` (0-based), like a kill."""

    def __init__(self, epoch, batch=1):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise Interrupt()


def histogram_tags(log_dir):
    """Tags of the histogram summaries in a TensorBoard folder."""
    import tensorflow as tf

    tags = set()
    for path in Path(log_dir).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "histograms":
                    tags.add(value.tag)
    return tags


def test_run_directory_holds_recipe_checkpoints_logs_and_metrics(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    segmenter, history = train(tiny_recipe(), run_dir, data_dir=data_dir, verbose=0)
    run = RunDirectory(run_dir)
    assert run.load_recipe().name == "tiny"
    assert run.last_weights.exists() and run.best_weights.exists()
    assert any(run.logs.rglob("events.out.tfevents.*"))
    records = run.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2, 3]
    first = records[0]
    for key in (
        "loss",
        "rgb_loss",
        "ensemble_loss",
        "sparsity",
        "val_ensemble_miou",
        "val_rgb_miou",
        "lr_encoder",
        "lr_decoder",
    ):
        assert key in first, key
    assert set(first["alpha"]) == {"rgb", "depth"}
    assert "layer1.0.bn2/rgb" in first["below_threshold"]
    # The share of all exchange channels under the threshold, in the epoch's logs (progress bar
    # summary, metrics.jsonl): the last one is that of the final weights.
    stats = [s for per_layer in segmenter.exchange_statistics().values() for s in per_layer]
    share = sum(s["below_threshold"] for s in stats) / sum(s["channels"] for s in stats)
    assert history.history["under_threshold"][-1] == pytest.approx(share)
    assert records[-1]["under_threshold"] == pytest.approx(share)
    assert histogram_tags(run.logs / "cen") >= {"abs_gamma/layer1.0.bn2/rgb", "abs_gamma/layer1.0.bn2/depth"}
    # Staged learning rates: stage 2 (epoch 3) uses its own rate.
    assert records[2]["lr_encoder"] == pytest.approx(1e-2)

    scores = evaluate_run(run_dir, data_dir=data_dir, verbose=0)
    assert set(scores) == {"rgb", "depth", "ensemble"}
    saved = json.loads(run.eval_file.read_text())
    assert saved["scores"]["ensemble"]["mean_iou"] == pytest.approx(scores["ensemble"]["mean_iou"])
    # Evaluation scores the best checkpoint: the mIoU its epoch's validation logged, per output.
    best = json.loads(run.best_record.read_text())
    logged = next(record for record in records if record["epoch"] == best["epoch"])
    for output in ("rgb", "depth", "ensemble"):
        assert scores[output]["mean_iou"] == pytest.approx(logged[f"val_{output}_miou"], abs=1e-5), output


def test_learning_rate_warms_up_linearly(tmp_path, data_dir):
    recipe = tiny_recipe(epochs=(2,), warmup_steps=8)  # 4 steps per epoch
    train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)
    rates = [r["lr_encoder"] for r in RunDirectory(tmp_path / "run").read_metrics()]
    # Logged after each epoch: the rate of its last step, 4/8 and then 8/8 of the base rate.
    assert rates == pytest.approx([0.5e-2, 1e-2])


def test_multi_scale_and_flip_average_the_probabilities_of_each_view():
    import tensorflow as tf

    from cenkeras.tasks.segmentation import predict_probabilities
    from cenkeras.tasks.segmentation_run import build_segmenter

    segmenter = build_segmenter(tiny_recipe())
    rng = np.random.default_rng(0)
    x = {k: tf.constant(rng.normal(size=(1, 32, 48, 3)), tf.float32) for k in ("rgb", "depth")}
    size = (32, 48)

    def single(inputs, flip):
        view = {k: tf.reverse(v, [2]) for k, v in inputs.items()} if flip else inputs
        probs = predict_probabilities(segmenter, view, size)["ensemble"]
        return tf.reverse(probs, [2]) if flip else probs

    flipped = predict_probabilities(segmenter, x, size, flip=True)["ensemble"]
    expected = (single(x, False) + single(x, True)) / 2
    np.testing.assert_allclose(flipped.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    scaled = predict_probabilities(segmenter, x, size, scales=(0.5, 1.0), depth_inputs=("depth",))["ensemble"]
    half = {k: tf.image.resize(v, (16, 24), method="nearest" if k == "depth" else "bilinear") for k, v in x.items()}
    expected = (predict_probabilities(segmenter, half, size)["ensemble"] + single(x, False)) / 2
    np.testing.assert_allclose(scaled.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scaled.numpy().sum(-1), 1.0, rtol=1e-5)


def test_interrupted_run_resumes_from_its_backup(tmp_path, data_dir):
    run_dir = tmp_path / "run"
    with pytest.raises(Interrupt):
        train(tiny_recipe(epochs=(2, 2)), run_dir, data_dir=data_dir, verbose=0, callbacks=[InterruptAt(2)])
    run = RunDirectory(run_dir)
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]
    with pytest.raises(RunError, match="already holds a run"):
        train(tiny_recipe(epochs=(2, 2)), run_dir, data_dir=data_dir, verbose=0)

    _, history = train(tiny_recipe(epochs=(2, 2)), run_dir, data_dir=data_dir, verbose=0, resume=True)
    assert history.epoch == [2, 3]  # continued after the last finished epoch
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2, 3, 4]


def test_resume_needs_an_existing_run(tmp_path, data_dir):
    with pytest.raises(RunError, match="holds no run"):
        train(tiny_recipe(), tmp_path / "nothing", data_dir=data_dir, verbose=0, resume=True)


def test_cli_train_and_eval(tmp_path, data_dir):
    run_dir = tmp_path / "cli_run"
    runner = CliRunner()
    recipe_file = tmp_path / "tiny.py"
    recipe_file.write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom tiny_recipe import tiny_recipe\n"
        "def recipe():\n    return tiny_recipe(epochs=(1,))\n" % str(__import__("pathlib").Path(__file__).parent)
    )
    result = runner.invoke(
        cli,
        [
            "train",
            str(recipe_file),
            "--run-dir",
            str(run_dir),
            "--data-dir",
            data_dir,
            "--set",
            "train.batch_size=2",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| ensemble |" in result.output and "| poster |" in result.output
    assert RunDirectory(run_dir).load_recipe().train.batch_size == 2

    result = runner.invoke(cli, ["eval", str(run_dir), "--data-dir", data_dir, "--flip", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "| rgb |" in result.output

    again = runner.invoke(cli, ["train", str(recipe_file), "--run-dir", str(run_dir), "--data-dir", data_dir])
    assert again.exit_code == 1 and "already holds a run" in again.output


class CountsLossTerms(keras.callbacks.Callback):
    """Per training step, which outputs (rgb, depth, ensemble) added a loss term."""

    def on_epoch_begin(self, epoch, logs=None):
        self.counts = [0.0] * len(self.model.output_loss_trackers)
        if epoch == 0:
            self.added = []

    def on_train_batch_end(self, batch, logs=None):
        counts = [float(tracker.count.numpy()) for tracker in self.model.output_loss_trackers]
        self.added.append([now > before for now, before in zip(counts, self.counts)])
        self.counts = counts


def test_a_run_trained_with_modality_dropout_evaluates_from_each_modality(tmp_path, data_dir):
    """train.modality_dropout through a real run, then `cenkeras eval --modalities` through the
    console script: each subset's scores go to their own file; a modality the run lacks is a
    one-line error."""
    from cenkeras.data.modality_dropout import present_pattern

    run_dir = tmp_path / "dropout_run"
    recipe = tiny_recipe(epochs=(2,))
    recipe.train.modality_dropout = 0.5
    seen = CountsLossTerms()
    _, history = train(recipe, run_dir, data_dir=data_dir, verbose=0, callbacks=[seen])
    assert np.isfinite(history.history["loss"]).all()
    # Each step's drop pattern reached the step: a dropped modality's output added no loss term.
    expected = [int(present_pattern(recipe.train.seed, step, 2, 0.5)) for step in range(len(seen.added))]
    assert seen.added == [[bool(bits & 1), bool(bits & 2), True] for bits in expected]
    assert {3} < set(expected)  # some steps dropped a modality, some kept both

    def cenkeras_eval(*args):
        return run_cli("eval", run_dir, "--data-dir", data_dir, "--quiet", *args)

    done = cenkeras_eval("--modalities", "depth")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| depth |" in done.stdout and "| rgb |" not in done.stdout and "eval_depth.json" in done.stdout
    scores = json.loads((run_dir / "eval_depth.json").read_text())
    assert scores["modalities"] == ["depth"] and set(scores["scores"]) == {"depth", "ensemble"}
    assert scores["scores"]["ensemble"]["mean_iou"] == scores["scores"]["depth"]["mean_iou"]
    assert not (run_dir / "eval.json").exists() or json.loads((run_dir / "eval.json").read_text())["modalities"] != [
        "depth"
    ]
    wrong = cenkeras_eval("--modalities", "thermal")
    assert wrong.returncode == 1
    assert "--modalities: " in wrong.stderr and "has no modality ['thermal']" in wrong.stderr


def test_cli_errors_are_one_line_messages(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", "--set", "train.epoch=3"])
    assert result.exit_code == 1 and "Unknown key 'train.epoch'" in result.output
    result = runner.invoke(cli, ["train", "no_such_recipe"])
    assert result.exit_code == 1 and "unknown recipe 'no_such_recipe'" in result.output
    result = runner.invoke(cli, ["recipes"])
    assert result.exit_code == 0 and "synthetic_rgbd" in result.output


def test_cli_names_a_corrupt_image_met_during_training(tmp_path):
    """A list dataset whose file turns out unreadable mid-training: a message naming it."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from nyud_helpers import write_list, write_sample

    root = tmp_path / "nyud"
    for i in range(4):
        write_sample(root, i, size=(32, 48))
    write_list(root, "train.txt", range(4))
    write_list(root, "val.txt", [0])
    (root / "rgb" / "000002.png").write_bytes(b"not a png at all")
    recipe_file = tmp_path / "nyud_tiny.py"
    recipe_file.write_text(
        "from cenkeras.recipes.nyudv2_refinenet101 import recipe as base\n"
        "def recipe():\n"
        "    r = base()\n"
        "    r.model.num_classes = 5\n    r.model.stage_blocks = (1, 1, 1, 1)\n"
        "    r.model.base_width = 4\n    r.model.decoder_width = 8\n"
        "    r.data.crop_size = 32\n    r.data.shorter_side = 24\n"
        "    r.train.epochs = (1,)\n    r.train.lr_encoder = (1e-3,)\n    r.train.lr_decoder = (1e-3,)\n"
        "    r.train.batch_size = 2\n    r.train.val_every = 1\n    r.train.freeze_bn = False\n"
        "    return r\n"
    )
    result = CliRunner().invoke(
        cli, ["train", str(recipe_file), "--data-dir", str(root), "--run-dir", str(tmp_path / "r"), "--quiet"]
    )
    assert result.exit_code == 1, result.output
    assert "cannot read image" in result.output and "rgb/000002.png" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_backbone_weights_initialise_the_encoder_from_a_single_modality_state_dict(
    tmp_path, data_dir, monkeypatch, suffix
):
    """A torchvision-named ResNet state dict fills every modality's private norms; .safetensors
    (the format the ImageNet ResNets are published in) is read without torch."""
    import sys

    from cenkeras.interop import StateDictError
    from cenkeras.tasks.segmentation_run import build_segmenter, load_backbone

    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    recipe = tiny_recipe(epochs=(1,))
    path, state = write_backbone(recipe, tmp_path / f"resnet{suffix}")
    assert "layer2.0.bn2.weight" in state and "layer2.0.bn2.bn_0.weight" not in state

    target = build_segmenter(recipe)
    report = load_backbone(target, path, verbose=0)
    assert report.unexpected == ["fc.weight"]
    for site_name, key in (("layer2.0.bn2", "layer2.0.bn2"), ("bn1", "bn1")):
        site = target.get_layer(site_name)
        assert len(site.norms) == 2
        for norm in site.norms:
            np.testing.assert_array_equal(norm.gamma.numpy(), state[f"{key}.weight"])
            np.testing.assert_array_equal(norm.beta.numpy(), state[f"{key}.bias"])
            np.testing.assert_array_equal(norm.moving_variance.numpy(), state[f"{key}.running_var"])
    np.testing.assert_allclose(
        target.get_layer("layer1.0.conv1").kernel.numpy(),
        np.transpose(state["layer1.0.conv1.weight"], (2, 3, 1, 0)),
    )

    if suffix == ".npz":
        broken = dict(state)
        broken["layer9.weight"] = np.zeros(3, "float32")
        np.savez(tmp_path / "wrong.npz", **broken)
        with pytest.raises(StateDictError, match="layer9.weight"):
            load_backbone(build_segmenter(recipe), tmp_path / "wrong.npz", verbose=0)
    else:
        (tmp_path / "cut.safetensors").write_bytes(Path(path).read_bytes()[:100])
        with pytest.raises(StateDictError, match="cut.safetensors"):
            load_backbone(build_segmenter(recipe), tmp_path / "cut.safetensors", verbose=0)
    with pytest.raises(StateDictError, match="not found"):
        load_backbone(build_segmenter(recipe), tmp_path / f"missing{suffix}", verbose=0)

    recipe.model.backbone_weights = path
    recipe.train.freeze_bn = True  # the official setting, sensible with pretrained weights
    segmenter, _ = train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)
    assert RunDirectory(tmp_path / "run").load_recipe().model.backbone_weights == path
    # Frozen statistics stay those of the file.
    np.testing.assert_array_equal(
        segmenter.get_layer("layer2.0.bn2").norms[1].moving_variance.numpy(), state["layer2.0.bn2.running_var"]
    )


def test_frozen_statistics_of_a_random_encoder_are_refused_before_anything_runs(tmp_path, data_dir):
    """train.freeze_bn without backbone weights would train an unnormalised encoder: an error giving
    both fixes, before the run folder is written; through the CLI too, and for reproduce."""
    from cenkeras.config import ConfigError
    from cenkeras.experiments.reproduce import reproduce

    recipe = tiny_recipe(epochs=(1,), freeze_bn=True)
    with pytest.raises(ConfigError) as error:
        train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)
    for fix in ("--set model.backbone_weights=PATH", "--set train.freeze_bn=false"):
        assert fix in str(error.value)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="model.backbone_weights"):
        reproduce("table1", recipe, tmp_path / "table", rows=["shared-private-half-on"], data_dir=data_dir, verbose=0)
    assert not (tmp_path / "table" / "shared-private-half-on").exists()
    recipe.model.backbone_weights, recipe.train.sync_bn = "resnet.safetensors", True
    with pytest.raises(ConfigError, match="train.sync_bn=true .* set one of them to false"):
        train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)


def test_a_sparsity_that_zeroes_every_scale_in_one_epoch_is_warned_about(tmp_path, data_dir):
    from cenkeras.tasks.segmentation_run import sparsity_drift_per_epoch

    recipe = tiny_recipe(epochs=(1,))
    official = load_recipe("nyudv2_refinenet101")
    assert sparsity_drift_per_epoch(official, 795 // 6) < 1e-3  # the official setting is far from it
    recipe.train.sparsity = 5.0  # lr 1e-2 x 5 x (M + 1) / (1 - momentum) x 4 steps = 6 per epoch
    recipe.train.steps_per_epoch = 4
    with pytest.warns(UserWarning, match=r"train.sparsity=5 .* moves a BatchNorm scale by 6 in the first epoch"):
        train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)


def test_mixed_bfloat16_training_runs_and_restores_the_policy(tmp_path, data_dir):
    recipe = tiny_recipe(epochs=(1,), precision="mixed_bfloat16")
    segmenter, history = train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert segmenter.get_layer("layer1.0.conv2").compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == "float32"


class RecordsCompilation(keras.callbacks.Callback):
    """What the trainer that `fit` runs was compiled with."""

    def on_train_batch_end(self, batch, logs=None):
        self.jit_compile = self.model.jit_compile


def test_xla_compiled_training_runs(tmp_path, data_dir):
    """`train.jit_compile=true` reaches the trainer that runs the steps (an ignored setting fails)."""
    recipe = tiny_recipe(epochs=(1,), jit_compile=True)
    seen = RecordsCompilation()
    _, history = train(recipe, tmp_path / "run", data_dir=data_dir, verbose=0, callbacks=[seen])
    assert np.isfinite(history.history["loss"]).all()
    assert seen.jit_compile is True
