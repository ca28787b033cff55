"""The translation trainer: generator loss with the official generator fixture's weights, and runs."""

import json

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cenkeras.cli.main import cli
from cenkeras.interop import load_torch_state_dict
from cenkeras.models import build_patchgan_discriminator, build_unet_generator
from cenkeras.training.runs import RunDirectory
from cenkeras.tasks import get_task
from cenkeras.training.callbacks import TrainingDiverged
from cenkeras.tasks.translation import TranslationTrainer, binary_cross_entropy
from harness import fixture_weights_module, load_reference, nhwc
from tiny_recipe import tiny_translation_recipe

# Each test trains a tiny generator.
pytestmark = pytest.mark.slow


def test_generator_loss_composition_with_the_fixture_weights():
    weights = fixture_weights_module()
    data, meta = load_reference("fixture_compact_generator_M2.npz")
    state = weights.generator_gamma_edits(weights.make_state_dict(meta["keys_shapes"], seed=2021))
    generator = build_unet_generator(["shade", "texture"], dropout=0.0, sparsity=1e-3)
    load_torch_state_dict(generator, state)
    keras.utils.set_random_seed(0)
    discriminator = build_patchgan_discriminator()
    trainer = TranslationTrainer(
        generator, discriminator, keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)
    )
    x = {"shade": nhwc(data["input_0"]), "texture": nhwc(data["input_1"])}
    target = np.random.default_rng(1).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    generated = generator(x, training=True)
    adversarial, l1, sparsity = (float(v) for v in trainer.generator_losses(x, target, generated))

    # By hand, from the official outputs (training mode, no dropout) and the state dict.
    official = {
        name: nhwc(data[f"trainmode_nodropout_output_{k}"])
        for name, k in (("shade", "0"), ("texture", "1"), ("ensemble", "ens"))
    }
    hand_l1 = 100.0 * sum(np.abs(official[n] - target).mean() for n in official)
    hand_adv = 0.0
    for name in ("shade", "texture"):
        scores = discriminator({"condition": x[name], "image": official[name]}, training=True).numpy()
        hand_adv += -np.mean(np.maximum(np.log(scores), -100.0))
    hand_sparsity = 0.0  # official: first half of modality 0's gammas, second half of modality 1's
    for block in range(2, 8):
        gamma_0 = state[f"conv{block}.insnorm_conv.insnorm_0.weight"]
        gamma_1 = state[f"conv{block}.insnorm_conv.insnorm_1.weight"]
        half = len(gamma_0) // 2
        hand_sparsity += 1e-3 * (np.abs(gamma_0[:half]).sum() + np.abs(gamma_1[half:]).sum())
    assert l1 == pytest.approx(hand_l1, rel=1e-4)
    assert adversarial == pytest.approx(hand_adv, rel=1e-4)
    assert sparsity == pytest.approx(hand_sparsity, rel=1e-5)

    before_g = [w.copy() for w in generator.get_weights()]
    before_d = [w.copy() for w in discriminator.get_weights()]
    trainer.compile(optimizer=trainer.generator_optimizer)
    logs = trainer.train_step((x, target))
    assert float(logs["g_loss"]) > 0 and float(logs["d_loss"]) > 0
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before_g, generator.get_weights()))
    assert any(np.abs(a - b).max() > 0 for a, b in zip(before_d, discriminator.get_weights()))


def test_a_step_without_a_domain_trains_on_the_present_one_only():
    """A batch whose drop pattern keeps texture alone: the shade stream's own norms stay as they
    were, the generator's L1 covers the texture branch and the ensemble, D judges texture only."""
    import tensorflow as tf

    from cenkeras.data.modality_dropout import PRESENT_KEY

    keras.utils.set_random_seed(3)
    # No L1 term: as a weight penalty it would move the absent stream's scales too.
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0)
    discriminator = build_patchgan_discriminator(filters=4)
    trainer = TranslationTrainer(
        generator,
        discriminator,
        keras.optimizers.SGD(0.1),
        keras.optimizers.SGD(0.1),
        modality_dropout=True,
    )
    trainer.compile(optimizer=trainer.generator_optimizer)
    rng = np.random.default_rng(0)
    x = {name: rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32") for name in ("shade", "texture")}
    target = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    site = generator.exchange_layers()[0]
    shade_gamma, texture_gamma = (norm.gamma.numpy().copy() for norm in site.norms)
    logs = trainer.train_step(({**x, PRESENT_KEY: tf.constant([2, 2])}, target))  # bit 1: texture only
    assert np.isfinite(float(logs["g_loss"])) and float(logs["d_loss"]) > 0
    np.testing.assert_array_equal(site.norms[0].gamma.numpy(), shade_gamma)
    assert np.abs(site.norms[1].gamma.numpy() - texture_gamma).max() > 0
    generated = generator.subset(["texture"])({"texture": x["texture"]}, training=False)
    assert sorted(generated) == ["ensemble", "texture"]


def test_lone_passes_add_each_domain_alone_to_the_generator_step():
    """`lone_weight`: the generator's loss gets each domain run alone (its branch judged by D and
    its weighted L1), each times its own weight, and the lone norms learn from it."""
    import tensorflow as tf

    keras.utils.set_random_seed(4)
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0, lone_norms=True)
    discriminator = build_patchgan_discriminator(filters=4)
    optimizers = (keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.0))  # D held still: the same judge
    weights = {"shade": 0.5, "texture": 0.2}
    trainer = TranslationTrainer(generator, discriminator, *optimizers, l1_weight=10.0, lone_weight=weights)
    trainer.compile(optimizer=trainer.generator_optimizer)
    rng = np.random.default_rng(0)
    x = {name: rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32") for name in ("shade", "texture")}
    target = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    expected = 0.0
    for name in ("shade", "texture"):
        image = generator.subset([name])({name: x[name]}, training=True)[name]
        judged = discriminator({"condition": tf.constant(x[name]), "image": image}, training=True)
        loss = float(binary_cross_entropy(1, judged)) + 10.0 * float(tf.reduce_mean(tf.abs(image - target)))
        expected += weights[name] * loss
    site = generator.exchange_layers()[0]
    before = [norm.gamma.numpy().copy() for norm in site.alone_norms]
    logs = trainer.train_step((x, target))
    assert abs(float(logs["lone_loss"]) - expected) < 1e-3 * expected
    for norm, gamma in zip(site.alone_norms, before):
        assert np.abs(norm.gamma.numpy() - gamma).max() > 0, norm.name


def test_the_lone_discriminator_also_learns_each_lone_image_as_a_fake():
    """`lone_discriminator`: the discriminator's loss adds, per domain, its real/fake loss on that
    domain's lone image times the domain's lone weight; without it, the full set's loss only."""
    import tensorflow as tf

    keras.utils.set_random_seed(5)
    generator = build_unet_generator(["shade", "texture"], filters=4, levels=5, dropout=0.0, lone_norms=True)
    discriminator = build_patchgan_discriminator(filters=4)
    rng = np.random.default_rng(1)
    x = {name: rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32") for name in ("shade", "texture")}
    target = rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    weights = {"shade": 0.5, "texture": 0.2}

    def judged(name, image):
        return discriminator({"condition": tf.constant(x[name]), "image": tf.constant(image)}, training=True)

    def real_fake(name, image):
        return 0.5 * float(binary_cross_entropy(1, judged(name, target)) + binary_cross_entropy(0, judged(name, image)))

    pair = generator(x, training=True)
    full = sum(real_fake(name, pair[name]) for name in ("shade", "texture"))
    lone = sum(
        weights[name] * real_fake(name, generator.subset([name])({name: x[name]}, training=True)[name])
        for name in ("shade", "texture")
    )
    assert lone > 0.1  # the lone term is not lost in the tolerance below
    for lone_discriminator, expected in ((False, full), (True, full + lone)):
        optimizers = (keras.optimizers.SGD(0.0), keras.optimizers.SGD(0.0))  # nothing moves: one judge
        trainer = TranslationTrainer(
            generator, discriminator, *optimizers, lone_weight=weights, lone_discriminator=lone_discriminator
        )
        trainer.compile(optimizer=trainer.generator_optimizer)
        logs = trainer.train_step((x, target))
        assert abs(float(logs["d_loss"]) - expected) < 1e-4 * expected, lone_discriminator
    with pytest.raises(ValueError, match="lone_discriminator needs lone passes"):
        TranslationTrainer(generator, discriminator, *optimizers, lone_discriminator=True)


class DecoderNormsOfFirstStep(keras.callbacks.Callback):
    """Each domain's private decoder norm weights before and after the first training step."""

    def values(self):
        weights = self.model.generator.weights
        return {k: [w.numpy() for w in weights if "deconv" in w.path and f"insnorm_{k}/" in w.path] for k in (0, 1)}

    def on_train_begin(self, logs=None):
        self.before = self.values()

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.after = self.values()


def test_a_run_with_modality_dropout_trains_through_the_pipeline(tmp_path):
    """The first step's drop pattern reaches the step: the dropped domain's private norms are not
    touched (no gradient, no statistics), the kept domain's are."""
    from cenkeras.data.modality_dropout import present_pattern

    recipe = tiny_translation_recipe()
    recipe.train.modality_dropout = 0.5
    recipe.train.steps_per_epoch = 4
    recipe.train.seed = 0
    assert int(present_pattern(0, 0, 2, 0.5)) == 0b10  # step 0 keeps texture (bit 1) and drops shade
    norms = DecoderNormsOfFirstStep()
    task = get_task("translation")
    _, history = task.train(recipe, tmp_path / "run", data_dir=str(tmp_path / "tfds"), verbose=0, callbacks=[norms])
    assert np.isfinite(history.history["g_loss"]).all() and np.isfinite(history.history["d_loss"]).all()
    shade = [np.array_equal(a, b) for a, b in zip(norms.before[0], norms.after[0])]
    texture = [np.array_equal(a, b) for a, b in zip(norms.before[1], norms.after[1])]
    assert shade and all(shade), "the dropped domain's norms moved"
    assert not any(texture[::4]), "the kept domain's norm scales did not train"  # gamma, beta, mean, variance


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """`(run_dir, data_dir, generator, history)` of the tiny recipe trained once: the tests that
    evaluate it each read what their own evaluation wrote."""
    root = tmp_path_factory.mktemp("translation-run")
    data_dir, run_dir = str(root / "tfds"), root / "run"
    generator, history = get_task("translation").train(tiny_translation_recipe(), run_dir, data_dir=data_dir, verbose=0)
    return run_dir, data_dir, generator, history


def test_two_step_training_run_evaluation_and_translate(tiny_run, tmp_path):
    run_dir, data_dir, generator, history = tiny_run
    assert np.isfinite(history.history["g_loss"]).all() and "val_ensemble_l1" in history.history
    run = RunDirectory(run_dir)
    assert run.best_weights.exists() and run.load_recipe().task == "translation"
    record = run.read_metrics()[0]
    assert {"d_loss", "g_loss", "g_l1", "lr_generator", "alpha"} <= set(record)
    # The recipe starts its norm scales from U(0, 1) (PyTorch 1.0's init; std 0.29), not ones, and
    # the share of exchange channels under the threshold is in every epoch's logs.
    scales = np.concatenate([np.abs(n.gamma.numpy()) for x in generator.exchange_layers() for n in x.norms])
    assert scales.std() > 0.2
    share = np.mean(scales < generator.exchange_layers()[0].threshold)
    assert history.history["under_threshold"][-1] == pytest.approx(share)

    scores = get_task("translation").evaluate(run_dir, data_dir=data_dir, verbose=0)
    assert set(scores) == {"shade", "texture", "ensemble"}
    # Validation during fit (which picks the best checkpoint) ran the generator as the evaluation
    # does, on instance statistics: the same weights score the same.
    for name in scores:
        assert scores[name]["l1"] == pytest.approx(history.history[f"val_{name}_l1"][-1], rel=1e-4)
    assert {"l1", "psnr", "ssim"} <= set(scores["ensemble"])
    images = run.path / "eval_images"
    for folder in ("fake0", "fake1", "fake2", "input0", "input1", "real"):
        assert len(list((images / folder).glob("*.png"))) == 4, folder
    assert json.loads(run.eval_file.read_text())["samples"] == 4

    shade = images / "input0" / "000.png"
    texture = images / "input1" / "000.png"
    out = tmp_path / "out.png"
    result = CliRunner().invoke(
        cli,
        ["translate", str(run_dir), "--input", f"shade={shade}", "--input", f"texture={texture}", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (32, 32)
    # From shade alone: the generator runs without its texture stream.
    alone = tmp_path / "alone.png"
    result = CliRunner().invoke(cli, ["translate", str(run_dir), "--input", f"shade={shade}", "--out", str(alone)])
    assert result.exit_code == 0, result.output
    assert Image.open(alone).size == (32, 32)
    result = CliRunner().invoke(cli, ["translate", str(run_dir), "--input", f"normal={shade}", "--out", str(out)])
    assert result.exit_code == 1 and "missing inputs ['shade', 'texture'], unexpected ['normal']" in result.output

    result = CliRunner().invoke(cli, ["eval", str(run_dir), "--data-dir", data_dir, "--quiet"])
    assert result.exit_code == 0 and "| ensemble |" in result.output and "PSNR" in result.output
    result = CliRunner().invoke(
        cli, ["eval", str(run_dir), "--data-dir", data_dir, "--modalities", "texture", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "| texture |" in result.output and "| shade |" not in result.output
    alone = json.loads((run.path / "eval_texture.json").read_text())
    assert alone["modalities"] == ["texture"] and set(alone["scores"]) == {"texture", "ensemble"}
    assert len(list((run.path / "eval_images_texture" / "fake0").glob("*.png"))) == 4


def test_fid_and_kid_with_an_inception_weights_file(tiny_run, tmp_path):
    """The FID/KID path end to end with weights files made here (random weights: plumbing only).

    Keras' InceptionV3 (.h5) and pytorch-fid's network (.pth, when torch is
    installed); every report names the network and the preprocessing.
    """
    inception = keras.applications.InceptionV3(
        include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3)
    )
    weights_file = tmp_path / "inception_notop.weights.h5"
    inception.save_weights(weights_file)
    run_dir, data_dir, _, _ = tiny_run
    task = get_task("translation")
    scores = task.evaluate(run_dir, data_dir=data_dir, inception_weights=weights_file, save_images=False, verbose=0)
    for name in ("shade", "texture", "ensemble"):
        assert np.isfinite(scores[name]["fid"]) and np.isfinite(scores[name]["kid_x100"])
    report = json.loads((run_dir / "eval.json").read_text())
    assert report["fid_network"] == "Keras InceptionV3 (inception_notop.weights.h5), official preprocessing"
    text = task.format_results(None, scores)
    assert "| output | L1 | PSNR | SSIM | FID | KID×100 |" in text
    assert "FID / KID×100 by Keras InceptionV3 (inception_notop.weights.h5), official preprocessing." in text

    with pytest.raises(FileNotFoundError, match="Inception weights file not found"):
        task.evaluate(run_dir, data_dir=data_dir, inception_weights=tmp_path / "nope.h5", verbose=0)

    torch = pytest.importorskip("torch")
    from cenkeras.interop.torch_state_dict import kernel_to_torch
    from cenkeras.metrics.fid_inception import build_fid_inception

    keras.utils.set_random_seed(3)
    _, blocks = build_fid_inception()
    state = {}
    for prefix, (conv, norm) in blocks.items():
        state[f"{prefix}.conv.weight"] = torch.from_numpy(kernel_to_torch(conv.kernel.numpy()).copy())
        for suffix, value in zip(("weight", "bias", "running_mean", "running_var"), norm.get_weights()):
            state[f"{prefix}.bn.{suffix}"] = torch.from_numpy(value)
    pth = tmp_path / "pt_inception-2015-12-05-random.pth"
    torch.save(state, pth)
    result = CliRunner().invoke(
        cli, ["eval", str(run_dir), "--data-dir", data_dir, "--inception-weights", str(pth), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "FID / KID×100 by pytorch-fid Inception (pt_inception-2015-12-05-random.pth)" in result.output


def test_bce_of_a_saturated_discriminator_has_finite_gradients():
    """p exactly 0 or 1 (a sigmoid saturated under bfloat16) takes PyTorch's -100 floor, and no NaN."""
    import tensorflow as tf

    p = tf.Variable([0.0, 1e-39, 0.3, 1.0])
    with tf.GradientTape(persistent=True) as tape:
        real, fake = binary_cross_entropy(1, p), binary_cross_entropy(0, p)
    np.testing.assert_allclose(float(real), (100 + 100 - np.log(0.3) - 0) / 4, rtol=1e-6)
    np.testing.assert_allclose(float(fake), (0 + 0 - np.log(0.7) + 100) / 4, rtol=1e-6)
    for loss in (real, fake):
        gradient = tape.gradient(loss, p).numpy()
        assert np.isfinite(gradient).all(), gradient
    np.testing.assert_allclose(tape.gradient(real, p).numpy()[2], -1 / (4 * 0.3), rtol=1e-6)


def test_a_diverged_translation_run_stops_naming_the_loss(tmp_path):
    """The NaN guard watches the GAN's g_loss and d_loss too (the translation trainer logs no `loss`)."""
    recipe = tiny_translation_recipe()
    recipe.train.epochs, recipe.train.lr_generator = 2, 1e30
    with pytest.raises(TrainingDiverged, match=r"the [gd]_loss was (nan|inf|-inf) at epoch 1, step \d") as error:
        get_task("translation").train(recipe, tmp_path / "run", data_dir=str(tmp_path / "tfds"), verbose=0)
    assert "--set train.lr_generator=... --set train.lr_discriminator=..." in str(error.value)
    assert RunDirectory(tmp_path / "run").read_metrics() == []


class MeanColourNetwork:
    """A stand-in FID network (mean colour of each image): FID that a 3x3 covariance makes cheap."""

    description = "mean colour"

    def __call__(self, images):
        return np.asarray(images, np.float64).mean(axis=(1, 2))


def test_fid_selection_scores_every_output_and_keeps_the_best_fid_epoch(tmp_path, monkeypatch):
    """train.select_by=fid: FID of each output every fid_every epochs; best.weights.h5 is the best FID's epoch."""
    import cenkeras.tasks.fid_selection as fid_selection
    from cenkeras.config import ConfigError

    recipe = tiny_translation_recipe()
    recipe.train.epochs, recipe.train.select_by, recipe.train.fid_every = 4, "fid", 2
    recipe.eval.kid_subsets, recipe.eval.kid_subset_size = 2, 4
    task = get_task("translation")
    with pytest.raises(ConfigError, match="train.select_by=fid needs the FID network's weights"):
        task.train(recipe, tmp_path / "no_weights", data_dir=str(tmp_path / "tfds"), verbose=0)
    assert not (tmp_path / "no_weights").exists()  # refused before anything was written

    weights = tmp_path / "stand_in.h5"
    weights.write_bytes(b"not read: the loader is replaced")
    recipe.eval.inception_weights = str(weights)
    monkeypatch.setattr(fid_selection, "load_fid_network", lambda path: MeanColourNetwork())
    run_dir = tmp_path / "run"
    assert task.summary(recipe)["best by"] == "best FID of any output, every 2 epochs"
    task.train(recipe, run_dir, data_dir=str(tmp_path / "tfds"), verbose=0)

    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    scored = [line for line in lines if "val_best_fid" in line]
    assert [line["epoch"] for line in scored] == [2, 4]
    for line in scored:
        fids = [line[f"val_{name}_fid"] for name in ("shade", "texture", "ensemble")]
        assert line["val_best_fid"] == min(fids) and all(f"val_{n}_kid_x100" in line for n in ("shade", "texture"))
    best = min(scored, key=lambda line: line["val_best_fid"])
    record = json.loads(RunDirectory(run_dir).best_record.read_text())
    assert record == {"epoch": best["epoch"], "val_best_fid": best["val_best_fid"]}


def test_official_generator_mode_evaluates_with_seeded_decoder_dropout(tmp_path):
    """eval.generator_mode=official (the Taskonomy recipes'): the decoder's dropout drops in evaluation,
    as in the official code, and the same seed gives the same scores; "inference" is deterministic
    without it. The first evaluation through the console script, as a user evaluates; the others run
    the same command in this process."""
    from cenkeras.config import to_dict
    from harness import run_cli

    recipe = tiny_translation_recipe()
    recipe.data.synthetic.size, recipe.data.resize, recipe.data.crop_size = 64, 68, 64
    recipe.model.levels = 6  # 64 px: decoder block 1 has the dropout
    data_dir, run_dir = str(tmp_path / "tfds"), tmp_path / "run"
    task = get_task("translation")
    task.train(recipe, run_dir, data_dir=data_dir, verbose=0)

    def evaluate(mode, seed=0, console_script=False):
        run = RunDirectory(run_dir)
        saved = run.load_recipe()
        saved.eval.generator_mode, saved.eval.dropout_seed, saved.eval.save_images = mode, seed, False
        run.recipe_file.write_text(json.dumps(to_dict(saved)))
        args = ["eval", str(run_dir), "--data-dir", data_dir, "--quiet"]
        if console_script:
            done = run_cli(*args)
            assert done.returncode == 0, done.stderr[-2000:]
        else:  # the same command in this process (a process start each costs more than the evaluation)
            done = CliRunner().invoke(cli, args)
            assert done.exit_code == 0, done.output
        result = json.loads(run.eval_file.read_text())
        return result, [result["scores"][name]["l1"] for name in ("shade", "texture", "ensemble")]

    result, official = evaluate("official", console_script=True)
    assert (result["generator_mode"], result["dropout_seed"]) == ("official", 0)
    assert evaluate("official")[1] == official  # repeatable
    assert evaluate("official", seed=1)[1] != official
    result, inference = evaluate("inference")
    assert result["generator_mode"] == "inference" and "dropout_seed" not in result
    assert inference != official and evaluate("inference")[1] == inference


def test_taskonomy_recipes_select_by_fid_when_the_fid_network_is_at_hand(tmp_path, monkeypatch):
    """train.select_by=auto: FID every 5 epochs with the network's file, else the ensemble's L1, said."""
    import cenkeras.metrics.fid as fid
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.tasks.fid_selection import BEST_FID, selects_by_fid

    monkeypatch.setattr(fid, "_torch_cache", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no_keras_cache"))
    task = get_task("translation")
    for name in ("taskonomy_shade_texture_to_rgb", "taskonomy_depth_normal_to_rgb", "taskonomy_four_to_rgb"):
        recipe = load_recipe(name)
        assert recipe.train.select_by == "auto" and recipe.eval.generator_mode == "official"
        assert not selects_by_fid(recipe) and task.selection(recipe) == (task.monitor, task.monitor_mode)
        assert task.summary(recipe)["best by"] == (
            "ensemble L1, every 5 epochs (no FID network found; the official choice, FID, needs eval.inception_weights)"
        )
        weights = tmp_path / "pt_inception.pth"
        weights.write_bytes(b"")
        recipe.eval.inception_weights = str(weights)
        assert selects_by_fid(recipe) and task.selection(recipe) == (BEST_FID, "min")
        assert task.summary(recipe)["best by"] == "best FID of any output, every 5 epochs"
