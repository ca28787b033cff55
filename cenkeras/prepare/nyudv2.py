"""NYUDv2 from its public files to the official CEN layout (40 classes, 795 train / 654 test).

The public files:
- `nyu_depth_v2_labeled.mat` (MATLAB v7.3 / HDF5; 1,449 frames of 640x480):
  `images` uint8, `depths` (in-painted) and `rawDepths` (with holes) in
  metres, `labels` uint16 with 894 classes (0 = unlabelled). h5py shows
  them with MATLAB's axes reversed: `(N, 3, W, H)` and `(N, W, H)`.
- `splits.mat` (MATLAB v5): `trainNdxs` (795) and `testNdxs` (654), 1-based.
- `classMapping40.mat` (the nyuv2-meta-data release): `mapClass`, the
  40-class label of each of the 894 classes, and `className`.

Written: `rgb/NNNNNN.png` (8-bit), `depth/NNNNNN.png` (16-bit, metres x 5000,
0 = no reading), `masks/NNNNNN.png` (classes 0..39, 255 = unlabelled),
`train.txt` and `val.txt` (lines `rgb/N.png<TAB>masks/N.png<TAB>depth/N.png`, as the official lists, which the
`nyudv2_refinenet*` recipes read), `class_names.txt` and `prepared.json`.
NNNNNN is the 1-based frame number.
"""

import numpy as np

from cenkeras.data.class_names import CLASS_NAMES_FILE
from cenkeras.data.modalities import DataError
from cenkeras.prepare.mat_files import hdf5_field, index_vector, open_hdf5_mat, read_mat_fields
from cenkeras.prepare.output import PreparedFolder
from cenkeras.utils.progress import track

# "raw": the Kinect depth with its holes, as in the official data (frames of its public
# layout have 34-37% zero pixels); "filled": the colorization in-painting of the toolbox.
DEPTH_FIELDS = {"raw": "rawDepths", "filled": "depths"}
STANDARD_SPLIT = (795, 654)
NUM_CLASSES = 40


def read_class_mapping(path):
    """`(map894 -> 0-based 40-class label or 255, class names or None)` from classMapping40.mat.

    Entry 0 of the returned lookup is label 0 (unlabelled), mapped to 255.
    """
    fields = read_mat_fields(path, ["mapClass"])
    mapping = np.asarray(fields["mapClass"]).reshape(-1)
    if mapping.size == 0 or mapping.dtype.kind not in "iuf":
        raise DataError(f"{path}: field 'mapClass' should be a vector of class numbers, got {mapping.dtype}.")
    mapping = mapping.astype(np.int64)
    if mapping.min() < 0 or mapping.max() > NUM_CLASSES:
        raise DataError(f"{path}: field 'mapClass' has values {mapping.min()}..{mapping.max()}, outside 0..40.")
    lookup = np.full(mapping.size + 1, 255, np.uint8)
    lookup[1:] = np.where(mapping > 0, mapping - 1, 255)  # a class mapped to 0 is unlabelled too
    names = None
    try:
        cells = np.asarray(read_mat_fields(path, ["className"])["className"]).reshape(-1)
        names = [str(np.asarray(cell).reshape(-1)[0]) for cell in cells]
    except (DataError, IndexError):
        pass  # the names are a convenience; the mapping is what matters
    return lookup, names


def frame(array, index):
    """Frame `index` of an h5py stack, back in (H, W[, C]) order."""
    data = np.asarray(array[index])
    return np.transpose(data, (2, 1, 0)) if data.ndim == 3 else data.T


def prepare_nyudv2(labeled, splits, mapping, out, depth="raw", quiet=False):
    """Write the official layout from the public files; returns the `prepared.json` record.

    Args:
        labeled: `nyu_depth_v2_labeled.mat`.
        splits: `splits.mat`.
        mapping: `classMapping40.mat`.
        out: the folder to create.
        depth: "raw" (with holes, as the official data) or "filled".
        quiet: no progress bar.
    """
    if depth not in DEPTH_FIELDS:
        raise DataError(f"depth must be one of {list(DEPTH_FIELDS)}, got {depth!r}.")
    lookup, class_names = read_class_mapping(mapping)
    with open_hdf5_mat(labeled) as mat:
        images = hdf5_field(mat, "images", labeled, ndim=4, dtype_kinds="u")
        depths = hdf5_field(mat, DEPTH_FIELDS[depth], labeled, ndim=3, dtype_kinds="f")
        labels = hdf5_field(mat, "labels", labeled, ndim=3, dtype_kinds="ui")
        count, channels, width, height = images.shape
        if channels != 3:
            raise DataError(f"{labeled}: field 'images' should be (N, 3, W, H) as h5py reads it, is {images.shape}.")
        for name, field in ((DEPTH_FIELDS[depth], depths), ("labels", labels)):
            if field.shape != (count, width, height):
                raise DataError(
                    f"{labeled}: field {name!r} has shape {field.shape}; the images need {(count, width, height)}."
                )
        split_fields = read_mat_fields(splits, ["trainNdxs", "testNdxs"])
        train = index_vector(split_fields["trainNdxs"], splits, "trainNdxs", count)
        test = index_vector(split_fields["testNdxs"], splits, "testNdxs", count)
        if np.intersect1d(train, test).size:
            raise DataError(f"{splits}: trainNdxs and testNdxs share frames {np.intersect1d(train, test)[:5] + 1}.")

        with PreparedFolder(out, "nyudv2") as folder:
            for index in track(np.union1d(train, test), "NYUDv2 frames", quiet=quiet):
                stem = f"{index + 1:06d}"
                folder.write_rgb(f"rgb/{stem}.png", frame(images, index))
                folder.write_depth(f"depth/{stem}.png", frame(depths, index))
                raw_labels = frame(labels, index).astype(np.int64)
                if raw_labels.max() >= lookup.size:
                    raise DataError(
                        f"{labeled}: frame {index + 1} has label {raw_labels.max()}, beyond the "
                        f"{lookup.size - 1} classes of {mapping}."
                    )
                mask = lookup[raw_labels]
                folder.write_mask(f"masks/{stem}.png", mask)
            line = "rgb/{0}.png\tmasks/{0}.png\tdepth/{0}.png"  # tabs: byte for byte the official lists
            folder.write_list("train.txt", [line.format(f"{i + 1:06d}") for i in train])
            folder.write_list("val.txt", [line.format(f"{i + 1:06d}") for i in test])
            if class_names:
                folder.write_list(CLASS_NAMES_FILE, class_names)
            return folder.finish(
                {"train": len(train), "val": len(test)},
                sources={"labeled": str(labeled), "splits": str(splits), "mapping": str(mapping)},
                depth=f"{depth} ({DEPTH_FIELDS[depth]}), metres x 5000, 0 = no reading",
                standard_split=(len(train), len(test)) == STANDARD_SPLIT,
                size=[height, width],
            )
