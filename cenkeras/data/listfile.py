"""List-file datasets in the official layout.

A dataset is a root folder and list files whose lines hold relative paths
separated by tabs or spaces, e.g. for NYUDv2:

    rgb/000003.png	masks/000003.png	depth/000003.png

Which column is which modality, and which is the mask, comes from the recipe.
"""

import dataclasses
import os
from pathlib import Path

from cenkeras.data.modalities import DataError


@dataclasses.dataclass(frozen=True)
class Entry:
    """One sample: the list line it came from and the absolute path of each file."""

    list_file: str
    line: int
    paths: dict  # modality name (and "mask") -> absolute path


def resolve_path(root, relative, where, allow_outside_root=False):
    """`root / relative`; absolute paths and `..` are errors naming `where` unless allowed."""
    if not allow_outside_root:
        if os.path.isabs(relative) or Path(relative).drive:
            raise DataError(f"{where}: absolute path {relative!r} is not allowed (paths are relative to the root).")
        if ".." in Path(relative).parts:
            raise DataError(f"{where}: path {relative!r} leaves the dataset root.")
    return str(Path(root) / relative)


def read_list(list_file, root, columns, allow_outside_root=False):
    """Parse a list file into `Entry`s.

    Args:
        list_file: path of the list file.
        root: folder the relative paths are resolved against.
        columns: `{name: column index}` for every modality and "mask".
        allow_outside_root: accept absolute paths and `..` (off by default).

    Blank lines and lines starting with `#` are skipped. A line with too few
    columns is an error naming the file and the line.
    """
    entries = [
        Entry(str(list_file), number, parse_line(text, where, root, columns, allow_outside_root))
        for number, text, where in list_lines(list_file, root)
    ]
    if not entries:
        raise DataError(f"list file {list_file} holds no samples.")
    return entries


def parse_line(text, where, root, columns, allow_outside_root=False):
    """`{name: absolute path}` of one list line; a line with too few columns is an error naming `where`."""
    needed = max(columns.values()) + 1
    fields = text.split()
    if len(fields) < needed:
        raise DataError(
            f"{where}: expected at least {needed} paths separated by tabs or spaces "
            f"(columns {columns}), got {len(fields)}: {text!r}"
        )
    return {name: resolve_path(root, fields[index], where, allow_outside_root) for name, index in columns.items()}


def list_lines(list_file, root):
    """`(line number, text, "file:line")` of every sample line of a list file.

    Checks the list file and the root first; blank lines and `#` comments are skipped.
    """
    list_path = Path(list_file)
    if not list_path.is_file():
        raise DataError(f"list file not found: {list_file}")
    if not Path(root).is_dir():
        raise DataError(f"dataset root is not a folder: {root}")
    try:
        lines = list_path.read_text(encoding="utf-8", errors="strict").splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"list file {list_file} is not UTF-8 text: {error}")
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if text and not text.startswith("#"):
            yield number, text, f"{list_file}:{number}"


def check_files_exist(entries):
    """Every path of every entry is a file; the first failure names the list line and path."""
    for entry in entries:
        for name, path in entry.paths.items():
            if not os.path.isfile(path):
                raise DataError(f"{entry.list_file}:{entry.line}: {name} file not found: {path}")
