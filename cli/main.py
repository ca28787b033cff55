"""`cenkeras` command group.

The CLI only parses arguments and calls the library; every command lives in
the library and is importable without click. Errors a user can fix (a bad
recipe key, a missing file, a corrupt image, a run folder in use) end as a
one-line message naming the culprit, not a traceback.
"""

import logging
import os
import platform
import sys
import traceback

import click

from cenkeras.cli.errors import friendly_errors, log_errors_in
from cenkeras.cli.prepare import prepare
from cenkeras.version import __version__


INCEPTION_WEIGHTS_HELP = (
    "Translation: the FID / KID network's weights: pytorch-fid's pt_inception-2015-12-05-*.pth "
    "(the paper's network; needs the torch extra) or a Keras InceptionV3 no-top .h5."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cenkeras")
def cli():
    """cenkeras: multimodal fusion by channel exchanging (CEN) in Keras 3 / TensorFlow."""


cli.add_command(prepare)


@cli.command()
def info():
    """Versions of cenkeras, TensorFlow, Keras and Python, and the visible devices."""
    # TensorFlow is imported here, not at module level, so `cenkeras --help` stays fast.
    import keras
    import tensorflow as tf

    click.echo(f"cenkeras    {__version__}")
    click.echo(f"TensorFlow  {tf.__version__}")
    click.echo(f"Keras       {keras.__version__} (backend: {keras.backend.backend()})")
    click.echo(f"Python      {platform.python_version()} ({platform.machine()}, {platform.system()})")
    click.echo("Devices:")
    for device in tf.config.list_physical_devices():
        click.echo(f"  {device.device_type:<4} {device.name}")


@cli.command("recipes")
def list_recipes():
    """List the built-in recipes."""
    from cenkeras.recipe_files import builtin_recipes

    for name, summary in builtin_recipes().items():
        click.echo(f"{name:<24} {summary}")


@cli.command()
@click.argument("recipe", required=False, default="synthetic_rgbd")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Dataset root (list datasets) or where the synthetic scenes are prepared.",
)
@click.option("--run-dir", type=click.Path(file_okay=False), help="Run folder (default runs/<recipe name>).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a recipe value, e.g. --set train.epochs=3 (repeatable).",
)
@click.option(
    "--strategy",
    type=click.Choice(["auto", "default", "mirrored", "multiworker"]),
    help="Distribution strategy (same as --set train.strategy=...).",
)
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last backup.")
@click.option(
    "--deterministic",
    is_flag=True,
    help="Op determinism: the same weights on every run of the "
    "recipe on this machine, killed and resumed or not (same as --set train.deterministic=true).",
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def train(recipe, data_dir, run_dir, overrides, strategy, resume, deterministic, quiet):
    """Train RECIPE (a built-in name or a .py file; default synthetic_rgbd)."""
    from cenkeras import config as config_lib
    from cenkeras.recipe_files import load_recipe
    from cenkeras.runs import RunDirectory

    experiment = load_recipe(recipe)
    run_dir = run_dir or f"runs/{experiment.name}"
    recorded = RunDirectory(run_dir)
    if resume and recorded.exists():
        # Resuming continues the recorded recipe; --set changes its length or learning rates.
        experiment = recorded.load_recipe()
    overrides = list(overrides) + ([f"train.strategy={strategy}"] if strategy else [])
    overrides += ["train.deterministic=true"] if deterministic else []
    experiment = config_lib.apply_overrides(experiment, overrides)
    from cenkeras.tasks import task_for

    task = task_for(experiment)
    log_errors_in(run_dir)
    click.echo(f"Run directory: {run_dir}")
    for key, value in task.summary(experiment).items():
        click.echo(f"  {key:<11} {value}")
    verbose = 0 if quiet else 1
    task.train(experiment, run_dir, data_dir=data_dir, resume=resume, verbose=verbose)
    click.echo("\nValidation of the best checkpoint:")
    scores = task.evaluate(run_dir, data_dir=data_dir, verbose=verbose)
    click.echo(task.format_results(experiment, scores))
    click.echo(f"\nWrote {run_dir}/eval.json")


@cli.command("check-data")
@click.argument("recipe")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset root (default: the recipe's data.root).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value (repeatable).")
@click.option("--workers", type=click.IntRange(1), help="Reader threads (default: the CPU count).")
@click.option("--report", type=click.Path(dir_okay=False), help="Also write the problems and the summary here.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def check_data(recipe, data_dir, overrides, workers, report, quiet):
    """Decode every listed file of every split of RECIPE's dataset as training would; list every problem.

    Checks what training checks when it reads a sample (the file opens and
    decodes, its mode, bit depth and channel count fit the modality, mask
    labels are < num_classes or the ignore label, inputs fit their mask under
    data.align), for all samples, in parallel. Exit status 1 if any problem.
    """
    from cenkeras import config as config_lib
    from cenkeras.recipe_files import load_recipe
    from cenkeras.tasks import task_for

    experiment = config_lib.apply_overrides(load_recipe(recipe), list(overrides))
    config_lib.validate(experiment)
    found = task_for(experiment).check_data(experiment, data_dir, workers=workers, quiet=quiet)
    if found is None:
        click.echo(f"{experiment.name} trains on the synthetic scenes, which cenkeras generates: nothing to check.")
        return
    for problem in found.problems:
        click.echo(str(problem))
    click.echo(found.summary())
    if report:
        from cenkeras.runs import atomic_write_text

        atomic_write_text(report, found.text())
        click.echo(f"Wrote {report}")
    if not found.ok:
        raise click.ClickException(f"{len(found.problems)} problem(s) in {experiment.name}'s data (listed above).")


@cli.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset root, if it moved.")
@click.option("--multi-scale", is_flag=True, default=None, help="Segmentation: average over eval.multi_scales.")
@click.option("--flip/--no-flip", default=None, help="Segmentation: also average over horizontal flips.")
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False),
    help="A weights file (default: the run's best, else last).",
)
@click.option(
    "--inception-weights",
    type=click.Path(exists=True, dir_okay=False),
    help=INCEPTION_WEIGHTS_HELP,
)
@click.option(
    "--fid-preprocessing",
    type=click.Choice(["official", "direct"]),
    help="Translation: how images reach the FID network (default: the recipe's eval.fid_preprocessing).",
)
@click.option(
    "--modalities",
    help="Evaluate from these modalities (translation: input domains) only, comma-separated, as "
    "with a missing sensor; writes RUN_DIR/eval_<modalities>.json.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def evaluate(run_dir, data_dir, multi_scale, flip, weights, inception_weights, fid_preprocessing, modalities, quiet):
    """Evaluate a run and print its table; writes RUN_DIR/eval.json.

    Segmentation: pixel acc / mean acc / mIoU per output. Translation: L1 /
    PSNR / SSIM (and FID / KID×100 given Inception weights) per output, with
    the images saved under RUN_DIR/eval_images like the official code. FID
    sees the images as the official evaluation does (each min-max stretched
    and drawn at 500 px through matplotlib; eval.fid_preprocessing=direct
    turns that off), and the table names the network that made it.
    """
    from cenkeras.runs import RunDirectory
    from cenkeras.tasks import task_for

    log_errors_in(run_dir)
    experiment = RunDirectory(run_dir).load_recipe()
    task = task_for(experiment)
    # Only the options given: a task refuses one it does not have (--multi-scale on a translation run).
    options = {
        "multi_scale": multi_scale,
        "flip": flip,
        "inception_weights": inception_weights,
        "fid_preprocessing": fid_preprocessing,
        "modalities": [name.strip() for name in modalities.split(",") if name.strip()] if modalities else None,
    }
    options = {key: value for key, value in options.items() if value is not None}
    task.check_evaluation_options(options)
    scores = task.evaluate(run_dir, data_dir=data_dir, weights=weights, verbose=0 if quiet else 1, **options)
    click.echo(task.format_results(experiment, scores))
    subset = options.get("modalities")
    if subset:  # in the network's order, as the task names the file
        inputs = getattr(experiment.data, "modalities", None) or experiment.data.domains[:-1]
        subset = [m for m in inputs if m in subset]
    click.echo(f"\nWrote {RunDirectory(run_dir).eval_file_for(subset)}")


def _parse_inputs(values):
    inputs = {}
    for value in values:
        if "=" not in value:
            raise click.UsageError(f"--input {value!r} must look like DOMAIN=PATH (e.g. shade=a.png).")
        name, path = value.split("=", 1)
        inputs[name.strip()] = path
    return inputs


@cli.command()
@click.argument("run_dir", metavar="MODEL", type=click.Path(exists=True))
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    metavar="DOMAIN=PATH",
    help="One image per input domain, e.g. --input shade=a.png --input texture=b.png.",
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Output PNG.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="A weights file.")
@friendly_errors
def translate(run_dir, inputs, out_path, weights):
    """Translate input-domain images with MODEL (writes the ensemble output): a translation run,
    or its SavedModel, ONNX, LiteRT or OpenVINO export (output at the inputs' size)."""
    from pathlib import Path

    from cenkeras.runs import RunDirectory
    from cenkeras.tasks import task_for

    log_errors_in(run_dir if Path(run_dir).is_dir() else None)
    if not (Path(run_dir) / "recipe.json").exists():
        from cenkeras.predict import translate_served

        if weights:
            raise click.UsageError("--weights applies to a run directory, not to an exported model.")
        click.echo(f"Wrote {translate_served(run_dir, _parse_inputs(inputs), out_path)}")
        return
    task = task_for(RunDirectory(run_dir).load_recipe())
    if not hasattr(task, "translate_files"):
        raise click.UsageError(f"{run_dir} is a {task.name} run; translate needs a translation run.")
    written = task.translate_files(run_dir, _parse_inputs(inputs), out_path, weights=weights)
    click.echo(f"Wrote {written}")


@cli.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Version folder to write (default saved_models/<recipe name>[.<format>]/<next version>).",
)
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="A weights file.")
@click.option(
    "--precision",
    type=click.Choice(["float32", "mixed_bfloat16", "auto"]),
    default="float32",
    show_default=True,
    help="Compute precision of the served model (SavedModel, or OpenVINO's inference precision). "
    "mixed_bfloat16 is ~2x faster on CPUs with AVX512-BF16/AMX and on Ampere+ GPUs; auto picks it "
    "when THIS machine has bf16 units.",
)
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["saved_model", "onnx", "litert", "openvino"]),
    default="saved_model",
    show_default=True,
    help="saved_model for TF Serving; onnx (ONNX Runtime), litert (LiteRT / TFLite) or openvino write "
    "that runtime's file of the same function (float32 weights; extras cenkeras[onnx|litert|openvino]).",
)
@friendly_errors
def export(run_dir, out, weights, precision, export_format):
    """Export a run as a TF Serving SavedModel (plus model.keras), or an ONNX, LiteRT or OpenVINO
    file, with the preprocessing inside."""
    from cenkeras.export import export_run

    log_errors_in(run_dir)
    try:
        path = export_run(run_dir, out=out, weights=weights, precision=precision, format=export_format)
    except FileExistsError as error:
        raise click.ClickException(str(error))
    click.echo(f"Wrote {path}")
    if export_format == "saved_model":
        click.echo(f"Inspect it with: saved_model_cli show --dir {path} --all")
    else:
        click.echo(f"Run it with: cenkeras predict {path} --input ... (or cenkeras translate)")


@cli.command()
@click.argument("model", type=click.Path(exists=True))
@click.option(
    "--input",
    "inputs",
    multiple=True,
    required=True,
    metavar="MODALITY=PATH",
    help="An image, a folder (matched by file name) or a .txt list, per modality.",
)
@click.option("--out", "out_dir", default="predictions", show_default=True, type=click.Path(file_okay=False))
@click.option("--output", default="ensemble", show_default=True, help="Which prediction to write.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def predict(model, inputs, out_dir, output, quiet):
    """Segment images with MODEL (a run directory, a SavedModel, a .keras file, or an ONNX, LiteRT or
    OpenVINO export folder or file)."""
    from cenkeras.predict import predict as run_predict

    log_errors_in(out_dir)
    written = run_predict(model, _parse_inputs(inputs), out_dir, output=output, verbose=0 if quiet else 1)
    click.echo(f"Wrote {len(written)} label maps (+ colour masks and overlays) to {out_dir}")


@cli.command("import-torch")
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False))
@click.option("--recipe", "recipe_name", required=True, help="Recipe describing the network (name or .py).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Run directory to create (then usable by eval, export and predict).",
)
@friendly_errors
def import_torch(checkpoint, recipe_name, overrides, out_dir):
    """Import an official CEN checkpoint (.pth, needs torch; or .npz) into a run directory."""
    from cenkeras import config as config_lib
    from cenkeras.interop.import_run import import_checkpoint
    from cenkeras.recipe_files import load_recipe

    experiment = config_lib.apply_overrides(load_recipe(recipe_name), list(overrides))
    _, report = import_checkpoint(checkpoint, experiment, out_dir)
    click.echo(f"{report.summary()}; wrote {out_dir}")


@cli.command()
@click.argument("model", type=click.Path(exists=True))
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="MODALITY=PATH",
    help="Images for the feature-map figure (two modalities).",
)
@click.option("--layer", help="Exchange layer of the figure (default: the one exchanging most).")
@click.option("--out", "out_dir", default="inspect", show_default=True, type=click.Path(file_okay=False))
@friendly_errors
def inspect(model, inputs, layer, out_dir):
    """Exchange statistics of MODEL (run directory or .keras): table, bar chart, alpha, feature maps."""
    from pathlib import Path

    from cenkeras import visualize

    path = Path(model)
    if (path / "recipe.json").exists():
        from cenkeras.export import load_run_model

        _, network = load_run_model(path)
    else:
        from cenkeras.predict import load_keras_model

        network = load_keras_model(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_errors_in(out)
    rows = visualize.exchange_rows(network)
    click.echo(visualize.format_exchange_table(rows))
    weights = network.ensemble_weights()
    if weights is None:
        click.echo("\nensemble: concat-fusion block (no alpha)")
    else:
        alpha = dict(zip(network.modalities, (round(float(a), 4) for a in weights)))
        click.echo(f"\nsoftmax(alpha): {alpha}")
    chart = visualize.plot_exchange_fractions(network, out / "exchange_fractions.png")
    click.echo(f"Wrote {chart}")
    if inputs:
        from cenkeras.predict import legacy_preprocessors, read_model_input

        preprocessors = network.preprocessors() or legacy_preprocessors(network)
        unknown = sorted(set(_parse_inputs(inputs)) - set(preprocessors))
        if unknown:
            raise click.UsageError(f"{model} takes inputs {list(preprocessors)}; unknown {unknown}.")
        chosen = layer or max(rows, key=lambda r: r["exchanged"])["layer"]
        batch = {
            name: preprocessors[name](read_model_input(image, preprocessors[name])[None])
            for name, image in _parse_inputs(inputs).items()
        }
        maps = visualize.exchange_feature_maps(network, batch, chosen)
        figure = visualize.plot_feature_maps(maps, out / f"feature_maps_{chosen}.png", title=chosen)
        click.echo(f"Wrote {figure}")


@cli.command()
@click.argument(
    "table_name",
    metavar="TABLE",
    type=click.Choice(["table1", "table2", "table3", "table4", "table5", "missing", "missing-translation"]),
)
@click.option("--recipe", "recipe_name", required=True, help="Recipe every row starts from (name or .py).")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value in every row (repeatable)."
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Folder of the rows' runs and the table (default runs/<recipe>-<table>).",
)
@click.option("--rows", help="Only these rows (comma-separated keys; see --dry-run).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset root or synthetic data folder.")
@click.option(
    "--inception-weights",
    type=click.Path(exists=True, dir_okay=False),
    help=INCEPTION_WEIGHTS_HELP,
)
@click.option("--dry-run", is_flag=True, help="List the rows and their overrides; run nothing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@friendly_errors
def reproduce(table_name, recipe_name, overrides, out_dir, rows, data_dir, inception_weights, dry_run, quiet):
    """Run the rows of one of the paper's TABLEs as separate runs and write its markdown table and chart.

    table1: CEN ablations; table2: segmentation fusion methods; table3:
    uni-modal networks, CEN-RefineNet and CEN-PSPNet; table4:
    translation fusion methods; table5: translation from more input domains;
    missing: an RGB-D network with a modality missing (CEN, CEN trained with
    modality dropout, single-modality networks); missing-translation: the
    same for a shade + texture generator. Finished rows are kept; an
    interrupted row resumes.
    """
    from cenkeras import reproduce as reproduce_lib
    from cenkeras.recipe_files import load_recipe

    experiment = load_recipe(recipe_name)
    selected = [key.strip() for key in rows.split(",") if key.strip()] if rows else None
    table, planned = reproduce_lib.plan(table_name, experiment, list(overrides), selected)
    out_dir = out_dir or f"runs/{experiment.name}-{table.name}"
    log_errors_in(out_dir)
    click.echo(f"{table.title}: {len(planned)} rows under {out_dir}")
    if dry_run:
        for row, _ in planned:
            what = f"evaluates {row.reuses!r}'s run with {dict(row.evaluation)}" if row.reuses else None
            click.echo(f"  {row.key:<34} {row.label}  [{what or ' '.join(row.overrides) or 'recipe as is'}]")
        return
    results = reproduce_lib.reproduce(
        table_name,
        experiment,
        out_dir,
        list(overrides),
        selected,
        data_dir,
        inception_weights,
        verbose=0 if quiet else 1,
        log=click.echo,
    )
    click.echo()
    click.echo(reproduce_lib.format_markdown(table, results))
    click.echo(f"\nWrote {out_dir}/{table.name}.md, {table.name}.png and {table.name}.json")


# The commands that run a model: they load TensorFlow first and give back the library pages its
# start-up touched (`cenkeras.memory`: ~0.4 GB less resident memory for the whole run).
MODEL_COMMANDS = {"train", "eval", "translate", "export", "predict", "import-torch", "inspect", "reproduce"}


def _runs_a_model(argv):
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return command in MODEL_COMMANDS and not {"-h", "--help", "--dry-run"} & set(argv)


def main():
    """The console script: click's own argument and error handling, then an exit that cannot hang.

    After a failure inside `fit` or an evaluation, tf.data's threads may still be
    running the pipeline's Python readers; a normal interpreter shutdown then
    waits on them forever after the error line is printed. A failed command
    therefore flushes what it wrote and ends the process at once with its status.
    """
    try:
        if _runs_a_model(sys.argv[1:]):
            from cenkeras.memory import load_tensorflow_lean

            load_tensorflow_lean()
        cli()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if code == 0:
            raise
        if not isinstance(done.code, int):
            click.echo(done.code, err=True)
        _exit_now(code)
    except BaseException:  # a bug, not a user error: its traceback, then the same exit
        traceback.print_exc()
        _exit_now(1)


def _exit_now(code):
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
