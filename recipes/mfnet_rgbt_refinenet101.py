"""CEN RefineNet-101 on MFNet RGB-thermal, 9 classes (both modalities read from one 4-channel PNG).

Data: `cenkeras prepare mfnet --root ir_seg_dataset --out DIR`, then `--data-dir DIR`. Neither the
paper nor the official code trains on MFNet: the optimisation is the official NYUDv2 setting.
"""

from cenkeras.config import DataConfig, ModalityConfig
from cenkeras.recipes.nyudv2_refinenet101 import recipe as refinenet101_recipe

# Thermal statistics: one 8-bit channel replicated to 3; ImageNet has none, so mid-grey scaling.
THERMAL_MEAN = (0.5, 0.5, 0.5)
THERMAL_STD = (0.25, 0.25, 0.25)


def recipe():
    experiment = refinenet101_recipe()
    experiment.name = "mfnet_rgbt_refinenet101"
    experiment.description = __doc__
    experiment.model.num_classes = 9  # MFNet's 9 classes, "unlabeled" (0) among them
    experiment.data = DataConfig(
        source="list",
        root=None,  # pass --data-dir /path/to/prepared/mfnet
        train_list="train.txt",  # 784 frames in the public split
        val_list="test.txt",  # 393 frames: what the RGB-T literature reports
        modalities={
            # Lines are `rgbt/N.png masks/N.png rgbt/N.png`: the same file, different channels.
            "rgb": ModalityConfig(kind="rgb", column=0, channels=(0, 1, 2)),
            "thermal": ModalityConfig(kind="gray", column=2, channels=(3,), mean=THERMAL_MEAN, std=THERMAL_STD),
        },
        mask_column=1,
        ignore_label=255,  # MFNet has no ignore label: every pixel is one of the 9 classes
        align="reject",  # frames and labels are both 480x640
        # The official NYUDv2 augmentation (shorter side 350, 500 crops, scales 0.5-2).
        shorter_side=350,
        crop_size=500,
        low_scale=0.5,
        high_scale=2.0,
    )
    return experiment
