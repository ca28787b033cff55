"""`cenkeras`: the command group and the console script.

The CLI only parses arguments and calls the library; every command lives in
the library and is importable without click. The commands are in modules of
their own (info, train, evaluate, serve, reproduce, prepare). Errors a user
can fix (a bad recipe key, a missing file, a corrupt image, a run folder in
use) end as a one-line message naming the culprit, not a traceback.
"""

import logging
import os
import sys
import traceback

import click

from cenkeras.cli.evaluate import evaluate, inspect
from cenkeras.cli.info import info, list_recipes
from cenkeras.cli.prepare import prepare
from cenkeras.cli.reproduce import reproduce
from cenkeras.cli.serve import export, predict, translate
from cenkeras.cli.train import check_data, import_torch, train
from cenkeras.version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cenkeras")
def cli():
    """cenkeras: multimodal fusion by channel exchanging (CEN) in Keras 3 / TensorFlow."""


COMMANDS = (
    info,
    list_recipes,
    train,
    check_data,
    evaluate,
    inspect,
    export,
    predict,
    translate,
    import_torch,
    reproduce,
)
for command in (*COMMANDS, prepare):
    cli.add_command(command)


# The commands that run a model: they load TensorFlow first and give back the library pages its
# start-up touched (`cenkeras.utils.memory`: ~0.4 GB less resident memory for the whole run).
MODEL_COMMANDS = {"train", "eval", "translate", "export", "predict", "import-torch", "inspect", "reproduce"}


def _command_name(argv):
    """The command the arguments name (their first word that is not an option), or None."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _runs_a_model(argv):
    return _command_name(argv) in MODEL_COMMANDS and not {"-h", "--help", "--dry-run"} & set(argv)


def _runs_a_command(argv):
    """Whether the arguments run a command that needs TensorFlow (not help, the version, or the
    list of recipes, which is read from the recipe files)."""
    words = [arg for arg in argv if not arg.startswith("-")]
    if words == ["recipes"]:
        return False
    return bool(words) and not {"-h", "--help", "--version"} & set(argv)


def main():
    """The console script: click's own argument and error handling, then an exit that cannot hang.

    After a failure inside `fit` or an evaluation, tf.data's threads may still be
    running the pipeline's Python readers; a normal interpreter shutdown then
    waits on them forever after the error line is printed. A failed command
    therefore flushes what it wrote and ends the process at once with its status.
    """
    try:
        if _runs_a_command(sys.argv[1:]):
            from cenkeras.utils.quiet_start import import_tensorflow_quietly

            import_tensorflow_quietly()
        if _runs_a_model(sys.argv[1:]):
            from cenkeras.utils.memory import load_tensorflow_lean

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
