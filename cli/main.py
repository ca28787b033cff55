"""`cenkeras` command group.

The CLI only parses arguments and calls the library; every command lives in
the library and is importable without click.
"""

import platform

import click

from cenkeras.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cenkeras")
def cli():
    """cenkeras: multimodal fusion by channel exchanging (CEN) in Keras 3 / TensorFlow."""


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


if __name__ == "__main__":
    cli()
