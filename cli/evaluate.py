"""The commands that read a trained model: `eval` (scores) and `inspect` (exchange statistics)."""

import click

from cenkeras.cli.errors import friendly_errors, log_errors_in, log_errors_in_run
from cenkeras.cli.options import INCEPTION_WEIGHTS_HELP, parse_inputs


@click.command("eval")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--data-dir", type=click.Path(file_okay=False), help="Dataset root, if it moved.")
@click.option(
    "--multi-scale",
    is_flag=True,
    default=None,
    help="Segmentation: the recipe's multi-scale protocol (eval.multi_scale; the paper's: RefineNet's 0.4-1.2).",
)
@click.option(
    "--protocol",
    type=click.Choice(["refinenet", "pspnet", "custom"]),
    help="Segmentation: this multi-scale protocol instead: refinenet (scales 0.4-1.2, no flip), "
    "pspnet (0.5-1.75 with flips) or custom (eval.multi_scales, eval.flip). Implies --multi-scale.",
)
@click.option(
    "--flip/--no-flip",
    default=None,
    help="Segmentation: average over horizontal flips too, or not (default: as the protocol does).",
)
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
def evaluate(
    run_dir, data_dir, multi_scale, protocol, flip, weights, inception_weights, fid_preprocessing, modalities, quiet
):
    """Evaluate a run and print its table; writes RUN_DIR/eval.json.

    Segmentation: pixel acc / mean acc / mIoU per output. Translation: L1 /
    PSNR / SSIM (and FID / KID×100 given Inception weights) per output, with
    the images saved under RUN_DIR/eval_images like the official code. FID
    sees the images as the official evaluation does (each min-max stretched
    and drawn at 500 px through matplotlib; eval.fid_preprocessing=direct
    turns that off), and the table names the network that made it.
    """
    from cenkeras.training.runs import RunDirectory
    from cenkeras.tasks import task_for

    log_errors_in_run(run_dir)
    experiment = RunDirectory(run_dir).load_recipe()
    task = task_for(experiment)
    # Only the options given: a task refuses one it does not have (--multi-scale on a translation run).
    options = {
        "multi_scale": protocol or multi_scale,
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


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option(
    "--input",
    "inputs",
    multiple=True,
    metavar="MODALITY=PATH",
    help="Images for the feature-map figure (two modalities).",
)
@click.option("--layer", help="Exchange layer of the figure (default: the one exchanging most).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Output folder (default: RUN_DIR/inspect for a run, else <model>_inspect beside the file).",
)
@friendly_errors
def inspect(model, inputs, layer, out_dir):
    """Exchange statistics of MODEL (run directory or .keras): table, bar chart, alpha, feature maps."""
    from pathlib import Path

    from cenkeras.experiments import visualize

    path = Path(model)
    if (path / "recipe.json").exists():
        from cenkeras.tasks.run_models import load_run_model

        _, network = load_run_model(path)
    else:
        from cenkeras.serving.predict import load_keras_model

        network = load_keras_model(path)
    # Each model its own default folder: one model's figures never replace another's.
    out = Path(out_dir) if out_dir else (path / "inspect" if path.is_dir() else path.with_name(f"{path.stem}_inspect"))
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
        from cenkeras.serving.predict import legacy_preprocessors, read_model_input

        preprocessors = network.preprocessors() or legacy_preprocessors(network)
        unknown = sorted(set(parse_inputs(inputs)) - set(preprocessors))
        if unknown:
            raise click.UsageError(f"{model} takes inputs {list(preprocessors)}; unknown {unknown}.")
        chosen = layer or max(rows, key=lambda r: r["exchanged"])["layer"]
        from cenkeras.serving.predict import overlay_backdrop

        raw = {name: read_model_input(image, preprocessors[name])[None] for name, image in parse_inputs(inputs).items()}
        batch = {name: preprocessors[name](image) for name, image in raw.items()}
        maps = visualize.exchange_feature_maps(network, batch, chosen)
        shown = {name: overlay_backdrop({name: image}, preprocessors) for name, image in raw.items()}
        figure = visualize.plot_feature_maps(maps, out / f"feature_maps_{chosen}.png", title=chosen, images=shown)
        click.echo(f"Wrote {figure}")
