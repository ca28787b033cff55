"""SUN RGB-D from its public files to the layout the `sunrgbd_refinenet101` recipe reads (37 classes).

The public files (the 37-class release most RGB-D segmentation work uses):
- `SUNRGBD.zip` (rgbd.cs.princeton.edu), unzipped: one folder per frame with
  `image/<name>.jpg`, `depth/<name>.png` (raw) and `depth_bfx/<name>.png`
  (in-painted); 16-bit depth in millimetres rotated left by 3 bits (the
  toolbox's `read3dPoints` undoes it).
- From the sunrgbd-meta-data release: `sunrgbd_training_images.txt` (5,285
  lines) and `sunrgbd_testing_images.txt` (5,050 lines), the frames' image
  paths inside the unzipped folder (`SUNRGBD/kv2/.../image/0000121.jpg`),
  and `sunrgbd_test_train_labels.tar.gz`, unpacked: `img-000001.png` ...
  `img-010335.png`, labels 0..37 (0 = void); the first 5,050 belong to the
  test list in its order, the rest to the training list in its order.

Written: `rgb/NNNNNN.jpg` (the JPEG as it is), `depth/NNNNNN.png` (16-bit,
metres x 5000 like NYUDv2; 0 = no reading), `masks/NNNNNN.png` (classes
0..36, 255 = void), `train.txt`, `test.txt`, `class_names.txt`, `prepared.json`. NNNNNN is the
label file's number.
"""

from pathlib import Path

import numpy as np

from cenkeras.data.class_names import CLASS_NAMES_FILE, SUNRGBD_CLASS_NAMES
from cenkeras.data.modalities import DataError, SIXTEEN_BIT_MODES, open_image
from cenkeras.prepare.output import PreparedFolder
from cenkeras.utils.progress import track

DEPTH_FOLDERS = {"raw": "depth", "filled": "depth_bfx"}
STANDARD_SPLIT = (5285, 5050)
NUM_CLASSES = 37


def read_image_list(path):
    """The image paths of a sunrgbd-meta-data list, one per line."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{path} lists no images.")
    return lines


def sunrgbd_depth_to_metres(raw):
    """SUN RGB-D's stored depth (millimetres rotated left by 3 bits, 16-bit) to metres."""
    raw = np.asarray(raw, np.uint32)
    millimetres = ((raw >> 3) | (raw << 13)) & 0xFFFF
    return millimetres.astype(np.float64) / 1000.0


def depth_file(image_path, depth):
    """The depth PNG beside an `image/<name>.jpg`: `<frame>/<depth folder>/<name>.png`, else the only PNG there."""
    folder = image_path.parent.parent / DEPTH_FOLDERS[depth]
    candidate = folder / (image_path.stem + ".png")
    if candidate.is_file():
        return candidate
    found = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if len(found) != 1:
        raise DataError(f"no single depth PNG for {image_path} in {folder} (found {len(found)}).")
    return found[0]


def prepare_sunrgbd(root, train_images, test_images, labels, out, depth="filled", quiet=False):
    """Write the layout from the public files; returns the `prepared.json` record.

    Args:
        root: the folder holding the unzipped `SUNRGBD/` tree (the lists' paths are relative to it).
        train_images, test_images: `sunrgbd_training_images.txt` / `sunrgbd_testing_images.txt`.
        labels: the unpacked folder of `img-NNNNNN.png` label images.
        out: the folder to create.
        depth: "filled" (`depth_bfx`, in-painted) or "raw" (`depth`, with holes).
        quiet: no progress bar.
    """
    if depth not in DEPTH_FOLDERS:
        raise DataError(f"depth must be one of {list(DEPTH_FOLDERS)}, got {depth!r}.")
    root, labels = Path(root).expanduser(), Path(labels).expanduser()
    for folder, what in ((root, "the SUN RGB-D root"), (labels, "the labels folder")):
        if not folder.is_dir():
            raise DataError(f"{what} is not a folder: {folder}")
    train, test = read_image_list(train_images), read_image_list(test_images)
    # Label numbering: the test frames first, then the training frames.
    frames = [(number, image, "test") for number, image in enumerate(test, start=1)]
    frames += [(number, image, "train") for number, image in enumerate(train, start=len(test) + 1)]

    with PreparedFolder(out, "sunrgbd") as folder:
        for number, relative, _ in track(frames, "SUN RGB-D frames", quiet=quiet):
            stem = f"{number:06d}"
            image_path = root / relative
            label_path = labels / f"img-{stem}.png"
            image = open_image(image_path)
            if image.mode not in ("RGB", "L"):
                raise DataError(f"{image_path} has mode {image.mode}; expected an RGB JPEG.")
            label_image = open_image(label_path)
            label = np.asarray(label_image)
            if label.ndim != 2:
                raise DataError(f"{label_path} has mode {label_image.mode}; expected a single-channel label image.")
            if label.shape != (image.height, image.width):
                raise DataError(
                    f"{label_path} is {label.shape[1]}x{label.shape[0]} but its image {image_path} is "
                    f"{image.width}x{image.height}: the label list and the image lists do not match."
                )
            if label.max() > NUM_CLASSES:
                raise DataError(f"{label_path} has label {label.max()}; SUN RGB-D labels are 0..37.")
            depth_path = depth_file(image_path, depth)
            depth_image = open_image(depth_path)
            if depth_image.mode not in SIXTEEN_BIT_MODES:
                raise DataError(f"{depth_path} has mode {depth_image.mode}; expected a 16-bit depth PNG.")
            if depth_image.size != image.size:
                raise DataError(f"{depth_path} is {depth_image.size}, its image {image_path} {image.size}.")
            folder.copy(image_path, f"rgb/{stem}{image_path.suffix.lower()}")
            folder.write_depth(f"depth/{stem}.png", sunrgbd_depth_to_metres(np.asarray(depth_image)))
            folder.write_mask(f"masks/{stem}.png", np.where(label == 0, 255, label.astype(np.int64) - 1))
        for split in ("train", "test"):
            folder.write_list(
                f"{split}.txt",
                [
                    f"rgb/{n:06d}{Path(image).suffix.lower()} masks/{n:06d}.png depth/{n:06d}.png"
                    for n, image, which in frames
                    if which == split
                ],
            )
        folder.write_list(CLASS_NAMES_FILE, SUNRGBD_CLASS_NAMES)
        return folder.finish(
            {"train": len(train), "test": len(test)},
            sources={"root": str(root), "train_images": str(train_images), "test_images": str(test_images)},
            labels=str(labels),
            depth=f"{depth} ({DEPTH_FOLDERS[depth]}), converted to metres x 5000, 0 = no reading",
            standard_split=(len(train), len(test)) == STANDARD_SPLIT,
        )
