"""TensorFlow's start-up lines kept off the `cenkeras` command's terminal.

Importing TensorFlow prints lines from its C++ side before any log setting
can reach them (absl's "All log messages before absl::InitializeLog() ...",
the oneDNN notice, the CUDA driver probes, and on a machine without a GPU a
`cuInit` error when the devices are first listed). They say nothing about the
command, and before a one-line error they bury it. The console script
imports TensorFlow with the process's stderr pointed at a buffer, lists the
devices there too, and keeps the text: `cenkeras.log` gets it with an
error's details. `TF_CPP_MIN_LOG_LEVEL=0` or `1`, set by the user, shows the
lines (2 and 3, which ask for fewer, keep them off as well).
"""

import logging
import os
import sys
import tempfile

# What TensorFlow printed while it started (empty until it has, or when it printed to the terminal).
startup_lines = ""


def user_wants_tensorflow_lines():
    """Whether the user asked for TensorFlow's INFO or WARNING lines (`TF_CPP_MIN_LOG_LEVEL` 0 or 1,
    set before cenkeras started)."""
    from cenkeras import USER_TF_LOG_LEVEL

    return (USER_TF_LOG_LEVEL or "").strip() in ("0", "1")


def import_tensorflow_quietly():
    """Import TensorFlow and Keras and list the devices, their lines captured; returns the lines."""
    global startup_lines
    # tensorflow-datasets and Keras log through absl's Python logger (e.g. "Using custom data
    # configuration ..." for every synthetic dataset): warnings of the libraries, not the command's.
    logging.getLogger("absl").setLevel(logging.ERROR)
    if "tensorflow" in sys.modules or user_wants_tensorflow_lines():
        _start_tensorflow()
        return ""
    sys.stderr.flush()
    terminal = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            _start_tensorflow()
        finally:
            os.dup2(terminal, 2)
            os.close(terminal)
        buffer.seek(0)
        startup_lines = buffer.read().decode("utf-8", errors="replace")
    return startup_lines


def _start_tensorflow():
    import keras  # noqa: F401 (its import runs TensorFlow's Python side too)
    import tensorflow as tf

    tf.config.list_physical_devices()  # the device probes print now, not in the middle of a command
