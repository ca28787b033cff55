"""The commands that start from a recipe: `train`, `check-data` and `import-torch`."""

import click

from cenkeras.cli.errors import friendly_errors, log_errors_in


@click.command()
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
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.training.runs import RunDirectory

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
    # A run that never validated (train.val_every beyond its epochs) has no best: its last weights.
    which = "best" if recorded.best_weights.exists() else "last (the run never validated)"
    click.echo(f"\nValidation of the {which} checkpoint:")
    scores = task.evaluate(run_dir, data_dir=data_dir, verbose=verbose)
    click.echo(task.format_results(experiment, scores))
    click.echo(f"\nWrote {run_dir}/eval.json")


@click.command("check-data")
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
    from cenkeras.experiments.recipe_files import load_recipe
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
        from cenkeras.training.runs import atomic_write_text

        atomic_write_text(report, found.text())
        click.echo(f"Wrote {report}")
    if not found.ok:
        raise click.ClickException(f"{len(found.problems)} problem(s) in {experiment.name}'s data (listed above).")


@click.command("import-torch")
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
    from cenkeras.tasks.import_run import import_checkpoint
    from cenkeras.experiments.recipe_files import load_recipe

    experiment = config_lib.apply_overrides(load_recipe(recipe_name), list(overrides))
    _, report = import_checkpoint(checkpoint, experiment, out_dir)
    click.echo(f"{report.summary()}; wrote {out_dir}")
