"""`PreparedFolder`: the folder `cenkeras prepare` writes, complete or not at all.

Everything is written into a sibling work folder (`OUT.incomplete`) and
renamed to `OUT` only after the last file and `prepared.json` are written:
a prepare that is killed or fails leaves no folder at `OUT` that looks
complete, and a rerun starts that work folder afresh. An existing `OUT` is
never overwritten or deleted.
"""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

from cenkeras.data.modalities import DataError
from cenkeras.version import __version__

# Depth PNGs of the official layout: 16-bit, metres x 5000 (0 = no reading; 13.1 m at most).
DEPTH_UNITS_PER_METRE = 5000
MARKER = "prepared.json"


class PreparedFolder:
    """A dataset folder in the official CEN layout, written atomically.

    Args:
        out: the folder to create; it must not exist.
        dataset: the dataset's name (recorded in `prepared.json`).

    Examples:
        >>> import tempfile
        >>> out = Path(tempfile.mkdtemp()) / "tiny"
        >>> with PreparedFolder(out, "example") as folder:
        ...     folder.write_mask("masks/000001.png", np.zeros((2, 3), np.uint8))
        ...     folder.write_list("train.txt", ["masks/000001.png"])
        ...     record = folder.finish({"train": 1})
        >>> sorted(p.name for p in out.iterdir())
        ['masks', 'prepared.json', 'train.txt']
    """

    def __init__(self, out, dataset):
        self.out = Path(out).expanduser()
        self.dataset = dataset
        if self.out.exists():
            raise DataError(f"{self.out} already exists; prepare writes a new folder (choose another --out).")
        if not self.out.parent.is_dir():
            raise DataError(f"the parent folder of --out does not exist: {self.out.parent}")
        self.work = self.out.with_name(self.out.name + ".incomplete")
        self.finished = False

    def __enter__(self):
        if self.work.exists():  # left by a killed or failed earlier prepare of the same --out
            shutil.rmtree(self.work)
        self.work.mkdir()
        return self

    def __exit__(self, kind, error, traceback):
        if not self.finished:
            shutil.rmtree(self.work, ignore_errors=True)
        return False

    def path(self, relative):
        target = self.work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_rgb(self, relative, pixels):
        """8-bit colour (H, W, 3), or any 8-bit channels (H, W, C) as PIL writes them."""
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[-1] not in (3, 4):
            raise ValueError(f"{relative}: expected (H, W, 3 or 4) uint8 pixels, got {pixels.shape} {pixels.dtype}.")
        Image.fromarray(np.ascontiguousarray(pixels)).save(self.path(relative))

    def write_gray(self, relative, pixels):
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 2:
            raise ValueError(f"{relative}: expected (H, W) uint8 pixels, got {pixels.shape} {pixels.dtype}.")
        Image.fromarray(np.ascontiguousarray(pixels)).save(self.path(relative))

    def write_depth(self, relative, metres):
        """Depth in metres (H, W) as a 16-bit PNG of metres x 5000; NaN, <= 0 and beyond 13.1 m become 0."""
        metres = np.asarray(metres, dtype=np.float64)
        if metres.ndim != 2:
            raise ValueError(f"{relative}: expected an (H, W) depth map, got {metres.shape}.")
        units = np.nan_to_num(metres, nan=0.0) * DEPTH_UNITS_PER_METRE
        units = np.where((units > 0) & (units <= np.iinfo(np.uint16).max), np.round(units), 0).astype(np.uint16)
        Image.fromarray(units).save(self.path(relative))

    def write_depth_units(self, relative, units):
        """A 16-bit depth map written as it is (already in the layout's units)."""
        units = np.asarray(units)
        if units.dtype != np.uint16 or units.ndim != 2:
            raise ValueError(f"{relative}: expected (H, W) uint16 depth, got {units.shape} {units.dtype}.")
        Image.fromarray(np.ascontiguousarray(units)).save(self.path(relative))

    def write_mask(self, relative, labels):
        """Labels (H, W) as an 8-bit PNG (255 = ignore)."""
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
            raise ValueError(f"{relative}: expected (H, W) labels in 0..255, got {labels.shape}.")
        Image.fromarray(labels.astype(np.uint8)).save(self.path(relative))

    def copy(self, source, relative):
        shutil.copyfile(source, self.path(relative))

    def write_list(self, name, lines):
        """A list file: one sample per line, its paths separated by a space."""
        self.path(name).write_text("".join(f"{line}\n" for line in lines))

    def finish(self, counts, **details):
        """Write `prepared.json` (what was prepared from what) and move the folder into place."""
        record = {
            "dataset": self.dataset,
            "counts": counts,
            "prepared_by": f"cenkeras {__version__}",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            **details,
        }
        (self.work / MARKER).write_text(json.dumps(record, indent=2, default=str) + "\n")
        if self.out.exists():
            self.finished = True  # keep the work: nothing at `out` is touched
            raise DataError(f"{self.out} appeared while preparing; the result is left in {self.work}.")
        os.replace(self.work, self.out)
        self.finished = True
        return record
