"""CEN RefineNet-101 on SUN RGB-D, 37 classes: the paper's schedule, the official NYUDv2 hyperparameters otherwise.

Data: `cenkeras prepare sunrgbd ... --out DIR`, then `--data-dir DIR`.
"""

from cenkeras.config import DataConfig, ModalityConfig
from cenkeras.recipes.nyudv2_refinenet101 import recipe as refinenet101_recipe


def recipe():
    experiment = refinenet101_recipe()
    experiment.name = "sunrgbd_refinenet101"
    experiment.description = __doc__
    experiment.model.num_classes = 37  # SUN RGB-D's 37-class benchmark
    experiment.data = DataConfig(
        source="list",
        root=None,  # pass --data-dir /path/to/prepared/sunrgbd
        train_list="train.txt",  # 5,285 frames (cenkeras prepare sunrgbd)
        val_list="test.txt",  # 5,050 frames: the paper reports the test set
        modalities={
            "rgb": ModalityConfig(kind="rgb", column=0),
            # The official code rescales each SUN RGB-D depth map to 0..255 by its own min/max
            # (independent of the PNG's units: prepare writes metres x 5000 like NYUDv2).
            "depth": ModalityConfig(kind="depth", column=2, scale=1.0, depth_mode="minmax"),
        },
        mask_column=1,
        ignore_label=255,  # prepare maps SUN RGB-D's void (0) to 255
        align="resize",  # official ResizeAlignToMask for datasets other than NYUDv2
        # Augmentation: the official NYUDv2 values (the official code has no SUN RGB-D setting).
        shorter_side=350,
        crop_size=500,
        low_scale=0.5,
        high_scale=2.0,
    )
    # The paper (Sec. 4.1): SUN RGB-D trains 3 stages of 20 epochs, the rates halved after each
    # (the official code has no SUN RGB-D schedule); stage-1 rates are the official NYUDv2 LR_ENC / LR_DEC.
    experiment.train.epochs = (20, 20, 20)
    experiment.train.resnet152_epochs = (20, 20, 20)  # the paper gives SUN RGB-D one schedule for both depths
    experiment.train.lr_encoder = (5e-4, 2.5e-4, 1.25e-4)
    experiment.train.lr_decoder = (3e-3, 1.5e-3, 7.5e-4)
    experiment.train.val_every = 5  # official VAL_EVERY
    return experiment
