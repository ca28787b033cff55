"""Resident memory of a cenkeras process: the library pages TensorFlow's start-up touched, given back.

Importing TensorFlow runs the registrations of thousands of ops and kernels
spread over its 1 GB of shared libraries, which faults in ~0.48 GB of their
pages (measured: RSS 0.71 GB right after `import tensorflow`, of which
0.48 GB is file-backed), most of them never touched again. They are clean
copies of the library files, so Linux can drop them and fault back in, from
the page cache or the file, whichever a later call needs.
`release_library_pages` asks it to do that now (`madvise(MADV_PAGEOUT)`,
Linux 5.4+), which brings a process's baseline to PyTorch's (~0.25 GB)
and lowers every later peak by the same amount. The `cenkeras` commands that
run a model call it once TensorFlow is loaded.
"""

import ctypes
import ctypes.util
import sys

MADV_PAGEOUT = 21  # linux/mman.h


def resident_bytes(status="/proc/self/status"):
    """`{"VmRSS": bytes, "RssAnon": bytes, "RssFile": bytes}` of this process (empty off Linux)."""
    values = {}
    try:
        with open(status) as lines:
            for line in lines:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


def library_mappings(maps="/proc/self/maps"):
    """`(start, length)` of every read-only, file-backed mapping of a shared library in this process.

    Writable mappings are left alone: their pages may hold the libraries'
    relocated data, which would have to be swapped out, not dropped.
    """
    ranges = []
    try:
        with open(maps) as lines:
            for line in lines:
                fields = line.split()
                if len(fields) < 6 or "w" in fields[1] or ".so" not in fields[5].rsplit("/", 1)[-1]:
                    continue
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                ranges.append((start, end - start))
    except OSError:
        pass
    return ranges


def release_library_pages():
    """Drops the resident pages of the loaded shared libraries; returns the bytes of RSS given back.

    A no-op (0) off Linux or on kernels without MADV_PAGEOUT. Pages that
    later calls use come back as they are touched (a few MB for a model's
    kernels), so this is safe to call at any time; it pays off right after
    TensorFlow is imported.

    Examples:
        >>> release_library_pages() >= 0
        True
    """
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    before = resident_bytes().get("VmRSS", 0)
    for start, length in library_mappings():
        libc.madvise(start, length, MADV_PAGEOUT)  # EINVAL before Linux 5.4: nothing released, no harm
    return max(0, before - resident_bytes().get("VmRSS", before))


def load_tensorflow_lean():
    """Imports TensorFlow and Keras, then gives back the library pages their start-up touched."""
    import keras  # noqa: F401 (its import touches TensorFlow's Python side too)
    import tensorflow  # noqa: F401

    return release_library_pages()
