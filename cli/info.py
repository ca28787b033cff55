"""`cenkeras info` and `cenkeras recipes`: what is installed, and the recipes it ships."""

import platform

import click

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
def list_recipes():
    """List the built-in recipes."""
    from cenkeras.experiments.recipe_files import builtin_recipes

    for name, summary in builtin_recipes().items():
        click.echo(f"{name:<24} {summary}")
