"""The commands that serve a trained model: `export`, `predict` and `translate`."""

import click

from cenkeras.cli.errors import friendly_errors, log_errors_in, log_errors_in_run
from cenkeras.cli.options import parse_inputs


@click.command()
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

    from cenkeras.training.runs import RunDirectory
    from cenkeras.tasks import task_for

    log_errors_in_run(run_dir)
    if not (Path(run_dir) / "recipe.json").exists():
        from cenkeras.serving.predict import translate_served

        if weights:
            raise click.UsageError("--weights applies to a run directory, not to an exported model.")
        click.echo(f"Wrote {translate_served(run_dir, parse_inputs(inputs), out_path)}")
        return
    task = task_for(RunDirectory(run_dir).load_recipe())
    if not hasattr(task, "translate_files"):
        raise click.UsageError(f"{run_dir} is a {task.name} run; translate needs a translation run.")
    written = task.translate_files(run_dir, parse_inputs(inputs), out_path, weights=weights)
    click.echo(f"Wrote {written}")


@click.command()
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
    from cenkeras.tasks.run_models import export_run

    log_errors_in_run(run_dir)
    try:
        path = export_run(run_dir, out=out, weights=weights, precision=precision, format=export_format)
    except FileExistsError as error:
        raise click.ClickException(str(error))
    click.echo(f"Wrote {path}")
    if export_format == "saved_model":
        click.echo(f"Inspect it with: saved_model_cli show --dir {path} --all")
    else:
        click.echo(f"Run it with: cenkeras predict {path} --input ... (or cenkeras translate)")


@click.command()
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
    from cenkeras.tasks.run_models import predict as run_predict

    log_errors_in(out_dir)
    written = run_predict(model, parse_inputs(inputs), out_dir, output=output, verbose=0 if quiet else 1)
    click.echo(f"Wrote {len(written)} label maps (+ colour masks and overlays) to {out_dir}")
