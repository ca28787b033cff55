"""Errors a user can fix end as one line naming the culprit: `friendly_errors` for every command."""

import functools
import re

import click

DATA_ERROR_MARKER = "cenkeras data error:"


def _user_errors():
    """Exception types whose message is meant for the user."""
    from cenkeras.config import ConfigError
    from cenkeras.data.modalities import DataError
    from cenkeras.callbacks import TrainingDiverged
    from cenkeras.distribute import WorkerLost
    from cenkeras.interop import StateDictError
    from cenkeras.runs import RunError

    return (ConfigError, DataError, RunError, StateDictError, TrainingDiverged, WorkerLost)


def friendly_errors(command):
    """Turn library errors into click errors; pull the data error out of TensorFlow's wrapping."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        import tensorflow as tf

        try:
            return command(*args, **kwargs)
        except _user_errors() as error:
            raise click.ClickException(str(error))
        except tf.errors.OpError as error:
            message = str(error.message if hasattr(error, "message") else error)
            if DATA_ERROR_MARKER in message:
                detail = message.split(DATA_ERROR_MARKER, 1)[1]
                detail = re.split(r"\n|\s+\[\[|\s+Traceback", detail.strip())[0]
                raise click.ClickException(f"{DATA_ERROR_MARKER} {detail.strip()}")
            raise

    return wrapper
