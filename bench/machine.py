"""The machine a figure was measured on, printed beside every table (figures differ between CPUs)."""

import os
from pathlib import Path


def platform_cpu():
    """The CPU model and thread count, to print beside the figures."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} threads"
    except OSError:
        pass
    return f"{os.cpu_count()} CPU threads"
