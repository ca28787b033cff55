"""CEN RefineNet-101 on SUN RGB-D, 37 classes, official hyperparameters."""

from cenkeras.config import DataConfig, ModalityConfig
from cenkeras.recipes.nyudv2_refinenet101 import recipe as refinenet101_recipe


def recipe():
    experiment = refinenet101_recipe()
    experiment.name = "sunrgbd_refinenet101"
    experiment.description = __doc__
    experiment.model.num_classes = 37
    experiment.data = DataConfig(
        source="list",
        root=None,  # pass --data-dir /path/to/sunrgbd
        train_list="train.txt",
        val_list="test.txt",
        modalities={
            "rgb": ModalityConfig(kind="rgb", column=0),
            # The official code rescales each SUN RGB-D depth map to 0..255 by its own min/max.
            "depth": ModalityConfig(kind="depth", column=2, scale=1.0, depth_mode="minmax"),
        },
        mask_column=1,
        align="resize",  # official ResizeAlignToMask for datasets other than NYUDv2
    )
    return experiment
