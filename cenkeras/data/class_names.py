"""Class names of a segmentation dataset, for score tables, exports and prediction legends.

`cenkeras prepare` writes them beside a dataset's lists, one per line, in
`class_names.txt` (NYUDv2 from its class mapping, SUN RGB-D and MFNet from
their releases); a folder of your own can hold one too. The synthetic
scenes name their own classes. Without a file, classes are numbered.

Examples:
    >>> SUNRGBD_CLASS_NAMES[:3]
    ('wall', 'floor', 'cabinet')
    >>> len(SUNRGBD_CLASS_NAMES)
    37
"""

import warnings
from pathlib import Path

CLASS_NAMES_FILE = "class_names.txt"

# The 37 classes of the sunrgbd-meta-data labels (1..37; 0 is void), in label order.
SUNRGBD_CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor_mat", "clothes", "ceiling", "books", "fridge", "tv", "paper", "towel", "shower_curtain",
    "box", "whiteboard", "person", "night_stand", "toilet", "sink", "lamp", "bathtub", "bag",
)  # fmt: skip


def read_class_names(root, num_classes):
    """The names in `root/class_names.txt`, or None when there is no such file. A file whose
    count differs from `num_classes` is left out with a warning naming it (numbers are shown)."""
    path = Path(root) / CLASS_NAMES_FILE
    if not path.is_file():
        return None
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != num_classes:
        warnings.warn(f"{path} names {len(names)} classes, the model has {num_classes}: classes are numbered.")
        return None
    return names


def recipe_class_names(recipe):
    """The class names of a segmentation recipe's data, or None where none are known."""
    data, num_classes = recipe.data, recipe.model.num_classes
    if data.source == "synthetic":
        from cenkeras.data.synthetic import CLASS_NAMES

        return list(CLASS_NAMES) if len(CLASS_NAMES) == num_classes else None
    return read_class_names(data.root, num_classes) if data.root else None
