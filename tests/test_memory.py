"""Resident memory: the library pages TensorFlow's start-up touched are given back (cenkeras.utils.memory)."""

import json
import subprocess
import sys

import pytest

from cenkeras.cli.main import _runs_a_model
from cenkeras.utils.memory import library_mappings

MAPS = """\
7f0000000000-7f0000100000 r--p 00000000 08:01 11 /venv/tensorflow/libtensorflow_cc.so.2
7f0000100000-7f0000300000 r-xp 00100000 08:01 11 /venv/tensorflow/libtensorflow_cc.so.2
7f0000300000-7f0000310000 rw-p 00300000 08:01 11 /venv/tensorflow/libtensorflow_cc.so.2
7f0000400000-7f0000500000 rw-p 00000000 00:00 0
7f0000500000-7f0000600000 r--p 00000000 08:01 12 /data/weights.bin
7f0000600000-7f0000601000 r--p 00000000 08:01 13 /usr/lib/libc.so.6
"""

# A library file mapped by this process alone: pages shared with another process (pytest's own
# TensorFlow) are never paged out, so TensorFlow's libraries cannot show the effect under pytest.
IN_A_FRESH_PROCESS = """
import ctypes, ctypes.util, json, mmap, sys
from cenkeras.utils.memory import MADV_PAGEOUT, release_library_pages, resident_bytes
# Whether this kernel has MADV_PAGEOUT at all (EINVAL before Linux 5.4), asked on a page of our own.
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
probe = mmap.mmap(-1, 4096)
status = libc.madvise(ctypes.addressof(ctypes.c_char.from_buffer(probe)), 4096, MADV_PAGEOUT)
supported = status == 0 or ctypes.get_errno() != 22
with open(sys.argv[1], "rb") as file:
    pages = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
touched = sum(pages[i] for i in range(0, len(pages), 4096))  # every page faulted in
before = resident_bytes()
released = release_library_pages()
after = resident_bytes()
same = pages[:4096] == b"7" * 4096
print(json.dumps({"before": before, "after": after, "released": released, "same": same, "supported": supported}))
"""


def test_only_read_only_library_mappings_are_released(tmp_path):
    """Writable mappings (relocated data), anonymous memory and mapped data files stay resident."""
    maps = tmp_path / "maps"
    maps.write_text(MAPS)
    assert library_mappings(str(maps)) == [
        (0x7F0000000000, 0x100000),
        (0x7F0000100000, 0x200000),
        (0x7F0000600000, 0x1000),
    ]
    assert library_mappings(str(tmp_path / "missing")) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_PAGEOUT is Linux's")
def test_a_librarys_resident_pages_are_given_back_and_read_back_on_use(tmp_path):
    library = tmp_path / "libprobe.so"
    library.write_bytes(b"7" * (64 << 20))
    done = subprocess.run(
        [sys.executable, "-c", IN_A_FRESH_PROCESS, str(library)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["supported"]:  # the only reason to skip: pages kept on a kernel that has it fail
        pytest.skip("this kernel has no MADV_PAGEOUT (Linux < 5.4)")
    assert result["before"]["RssFile"] > 60e6  # the 64 MB mapping was resident
    assert result["after"]["RssFile"] < result["before"]["RssFile"] - 60e6
    assert result["released"] > 60e6
    assert result["same"]  # a page touched again reads the file's bytes


@pytest.mark.parametrize(
    "argv, lean",
    [
        (["train", "synthetic_rgbd"], True),
        (["predict", "saved_models/m/1", "--input", "rgb=a.png"], True),
        (["train", "--help"], False),
        (["reproduce", "table1", "--dry-run"], False),
        (["recipes"], False),
        (["--version"], False),
        ([], False),
    ],
)
def test_the_commands_that_run_a_model_load_tensorflow_lean(argv, lean):
    assert _runs_a_model(argv) is lean
