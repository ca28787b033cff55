"""Errors a user can fix end as one line naming the culprit: `friendly_errors` for every command.

The line is all the terminal shows. The full story (the Python traceback, and
for an error raised inside a tf.data reader the reader's own traceback that
TensorFlow carries in its message) is appended to `cenkeras.log` in the
folder the command works in (the run directory for `train` and `eval`, the
output folder for `predict`), and the error line ends by naming that file.
"""

import datetime
import functools
import re
import shlex
import sys
import traceback
from pathlib import Path

import click

DATA_ERROR_MARKER = "cenkeras data error:"
LOG_FILE_NAME = "cenkeras.log"

# The folder the running command keeps its log in (set by the command once it knows it).
_log_folder = None


def log_errors_in(folder):
    """Make `folder/cenkeras.log` the place the running command's error details go."""
    global _log_folder
    _log_folder = Path(folder) if folder is not None else None


def log_errors_in_run(folder):
    """`log_errors_in(folder)` where `folder` holds a run (its recipe.json); else no log file is
    written: a command given a folder that is not a run (a data folder, say) leaves nothing in it."""
    log_errors_in(folder if (Path(folder) / "recipe.json").is_file() else None)


def _user_errors():
    """Exception types whose message is meant for the user."""
    from cenkeras.config import ConfigError
    from cenkeras.data.modalities import DataError
    from cenkeras.training.callbacks import TrainingDiverged
    from cenkeras.training.distribute import WorkerLost
    from cenkeras.interop import StateDictError
    from cenkeras.training.runs import RunError

    return (ConfigError, DataError, RunError, StateDictError, TrainingDiverged, WorkerLost)


def write_error_log(error, folder):
    """Append the command line and `error`'s full traceback to folder/cenkeras.log; its path, or None.

    Nothing is written (None) when the folder does not exist: a command that
    failed before creating its folder has nothing worth a file, and a folder
    is never created only to hold a log.
    """
    if folder is None or not Path(folder).is_dir():
        return None
    path = Path(folder) / LOG_FILE_NAME
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    details = "".join(traceback.format_exception(error))
    # An OpError's message holds the traceback of the Python code that failed inside the graph.
    inner = getattr(error, "message", "")
    text = f"\n=== {stamp} cenkeras {shlex.join(sys.argv[1:])}\n{details}"
    if inner and inner not in details:
        text += f"\nTensorFlow's message:\n{inner}\n"
    from cenkeras.utils.quiet_start import startup_lines

    if startup_lines:  # kept off the terminal (cenkeras.utils.quiet_start); here in case they matter
        text += f"\nTensorFlow's start-up lines:\n{startup_lines}"
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(text)
    except OSError:
        return None  # a log that cannot be written must not hide the error itself
    return path


def _fail(message, error):
    written = write_error_log(error, _log_folder)
    suffix = f" (details in {written})" if written else ""
    raise click.ClickException(f"{message}{suffix}") from error


def data_error_line(message):
    """The cenkeras data error inside a TensorFlow error message, as one line (None if there is none)."""
    if DATA_ERROR_MARKER not in message:
        return None
    detail = message.split(DATA_ERROR_MARKER, 1)[1]
    detail = re.split(r"\n|\s+\[\[|\s+Traceback", detail.strip())[0]
    return f"{DATA_ERROR_MARKER} {detail.strip()}"


def friendly_errors(command):
    """Turn library errors into one-line click errors; pull the data error out of TensorFlow's wrapping."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        log_errors_in(None)
        try:
            return command(*args, **kwargs)
        except Exception as error:
            # The error types are imported once there is an error: a command that needs no
            # TensorFlow (the recipe listing) must not load it to be ready for one.
            if isinstance(error, _user_errors()):
                _fail(str(error), error)
            import tensorflow as tf

            if not isinstance(error, tf.errors.OpError):
                raise
            line = data_error_line(str(error.message if hasattr(error, "message") else error))
            if line is None:
                raise
            _fail(line, error)

    return wrapper
