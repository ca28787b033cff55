"""cenkeras: Deep Multimodal Fusion by Channel Exchanging (CEN) in Keras 3 / TensorFlow."""

import os
import sys


def _started_as_console_script():
    script = os.path.basename(getattr(sys, "argv", [""])[0] or "")
    return os.path.splitext(script)[0] in ("cenkeras", "cenkeras-script")


if _started_as_console_script():
    # TensorFlow reads its C++ log level once, when it loads (below), so the `cenkeras`
    # command sets it here. Level 2 keeps INFO and WARNING lines off the terminal: among
    # them, a failing kernel's 40-line Python traceback printed ahead of the command's own
    # one-line error (which points to the full traceback in cenkeras.log). Set
    # TF_CPP_MIN_LOG_LEVEL=0 to see them. Importing cenkeras as a library changes nothing.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cenkeras.version import __version__  # noqa: E402
from cenkeras import layers, models  # noqa: E402

__all__ = ["__version__", "layers", "models"]
