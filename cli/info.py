"""`cenkeras info` and `cenkeras recipes`: what is installed, and the recipes it ships."""

import platform

import click

from cenkeras.cli.errors import friendly_errors
from cenkeras.version import __version__


@click.command()
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


@click.command("recipes")
@click.argument("recipe", required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value (repeatable).")
@friendly_errors
def list_recipes(recipe, overrides):
    """List the built-in recipes; with RECIPE (a name or a .py file), print it resolved with the
    overrides, one `key=value` line per value, in the form --set takes."""
    from cenkeras.experiments.recipe_files import builtin_recipes, load_recipe

    if recipe is None:
        if overrides:
            raise click.UsageError("--set needs a RECIPE to apply to.")
        for name, summary in builtin_recipes().items():
            click.echo(f"{name:<24} {summary}")
        return
    from cenkeras.config import apply_overrides
    from cenkeras.config.listing import settable_lines

    experiment = apply_overrides(load_recipe(recipe), list(overrides))
    click.echo(f"# {experiment.name} ({experiment.task}): {experiment.description.strip().splitlines()[0]}")
    for line in settable_lines(experiment):
        click.echo(line)
