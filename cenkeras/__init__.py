"""cenkeras: Deep Multimodal Fusion by Channel Exchanging (CEN) in Keras 3 / TensorFlow."""

import os
import sys


def _started_as_console_script():
    script = os.path.basename(getattr(sys, "argv", [""])[0] or "")
    return os.path.splitext(script)[0] in ("cenkeras", "cenkeras-script")


# A log level the user set shows TensorFlow's start-up lines (`cenkeras.utils.quiet_start`).
USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")

if _started_as_console_script():
    # TensorFlow reads its C++ log level once, when it loads, so the `cenkeras` command sets
    # it here, before any command imports it. Level 2 keeps INFO and WARNING lines off the terminal: among
    # them, a failing kernel's 40-line Python traceback printed ahead of the command's own
    # one-line error (which points to the full traceback in cenkeras.log). Set
    # TF_CPP_MIN_LOG_LEVEL=0 to see them. Importing cenkeras as a library changes nothing.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cenkeras.version import __version__  # noqa: E402

__all__ = ["__version__", "layers", "models"]

if not _started_as_console_script():
    # Importing the library registers its Keras classes, so that `keras.saving.load_model`
    # reads a cenkeras .keras file after a plain `import cenkeras`.
    from cenkeras import layers, models  # noqa: E402, F401


def __getattr__(name):
    # The `cenkeras` command imports them (and TensorFlow) only when a command needs them,
    # so that `cenkeras --help` and `--version` start at once.
    if name in ("layers", "models"):
        import importlib

        return importlib.import_module(f"cenkeras.{name}")
    raise AttributeError(f"module 'cenkeras' has no attribute {name!r}")
