"""The machine a figure was measured on, printed beside every table (figures differ between CPUs)."""

import os
from pathlib import Path

# The units that decide bf16 speed: a figure from a CPU with AMX does not carry over to one without.
_BF16_UNITS = {"avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX"}


def platform_cpu():
    """The CPU model, thread count and bf16 units (AVX512-BF16, AMX), to print beside the figures."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{os.cpu_count()} CPU threads"
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    units = [name for flag, name in _BF16_UNITS.items() if flag in flags]
    return f"{model}, {os.cpu_count()} threads, {' + '.join(units) if units else 'no bf16 units'}"
