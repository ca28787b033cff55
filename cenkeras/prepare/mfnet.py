"""MFNet (RGB-thermal, 9 classes) from its public download to the layout `mfnet_rgbt_refinenet101` reads.

The public download (the MFNet authors' `ir_seg_dataset`): `images/NAME.png`
(4 channels: R, G, B, thermal; 480x640), `labels/NAME.png` (8-bit, 0..8,
class 0 "unlabeled" is a class of the benchmark) and the split lists
`train.txt`, `val.txt`, `test.txt` (one NAME per line).

Written: `rgbt/NAME.png` (the 4-channel frame as it is; the recipe reads
channels 0-2 as "rgb" and channel 3 as "thermal"), `masks/NAME.png`, the three
list files (lines `rgbt/NAME.png masks/NAME.png rgbt/NAME.png`) and
`prepared.json`. Every frame is checked before it is copied.
"""

from pathlib import Path

import numpy as np

from cenkeras.data.class_names import CLASS_NAMES_FILE
from cenkeras.data.modalities import DataError, open_image
from cenkeras.prepare.output import PreparedFolder
from cenkeras.utils.progress import track

NUM_CLASSES = 9
CLASS_NAMES = ("unlabeled", "car", "person", "bike", "curve", "car_stop", "guardrail", "color_cone", "bump")
SPLITS = ("train", "val", "test")


def read_names(path):
    if not path.is_file():
        raise DataError(f"file not found: {path} (the MFNet split lists are train.txt, val.txt, test.txt)")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path} lists no frames.")
    return [Path(name).stem for name in names]  # some copies list "00001D.png"


def prepare_mfnet(root, out, quiet=False):
    """Check and copy the frames and labels, write the lists; returns the `prepared.json` record."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"the MFNet folder is not a folder: {root}")
    splits = {split: read_names(root / f"{split}.txt") for split in SPLITS}
    frames = sorted({name for names in splits.values() for name in names})
    with PreparedFolder(out, "mfnet") as folder:
        for name in track(frames, "MFNet frames", quiet=quiet):
            image_path, label_path = root / "images" / f"{name}.png", root / "labels" / f"{name}.png"
            image = open_image(image_path)
            if image.mode != "RGBA":
                raise DataError(
                    f"{image_path} has mode {image.mode}; MFNet frames are 4-channel PNGs (R, G, B, thermal)."
                )
            label_image = open_image(label_path)
            labels = np.asarray(label_image)
            if labels.ndim != 2:
                raise DataError(f"{label_path} has mode {label_image.mode}; expected a single-channel label image.")
            if labels.shape != (image.height, image.width):
                raise DataError(f"{label_path} is {labels.shape[::-1]}, its frame {image_path} {image.size}.")
            if labels.max() >= NUM_CLASSES:
                raise DataError(f"{label_path} has label {labels.max()}; MFNet labels are 0..8.")
            folder.copy(image_path, f"rgbt/{name}.png")
            folder.write_mask(f"masks/{name}.png", labels)
        for split, names in splits.items():
            folder.write_list(f"{split}.txt", [f"rgbt/{n}.png masks/{n}.png rgbt/{n}.png" for n in names])
        folder.write_list(CLASS_NAMES_FILE, CLASS_NAMES)
        return folder.finish({split: len(names) for split, names in splits.items()}, source=str(root))
