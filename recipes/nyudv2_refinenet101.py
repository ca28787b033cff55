"""CEN RefineNet-101 on NYUDv2 RGB-D, 40 classes, official hyperparameters."""

from cenkeras.config import (
    DataConfig,
    EvalConfig,
    ExchangeConfig,
    ModalityConfig,
    ModelConfig,
    Recipe,
    TrainConfig,
)


def nyudv2_data():
    """The official NYUDv2 layout (`cenkeras prepare nyudv2` writes it from the public files):
    list lines `rgb/N.png  masks/N.png  depth/N.png` under the root."""
    return DataConfig(
        source="list",
        root=None,  # pass --data-dir /path/to/nyudv2
        train_list="train.txt",  # official TRAIN_LIST: 795 frames
        val_list="val.txt",  # official VAL_LIST: the 654 test frames
        modalities={
            "rgb": ModalityConfig(kind="rgb", column=0),  # official NORMALISE_PARAMS: ImageNet mean / std
            # 16-bit PNG in metres x 5000; the official code feeds metres replicated to 3 channels.
            "depth": ModalityConfig(kind="depth", column=2, scale=1.0 / 5000.0),
        },
        mask_column=1,  # the official list's column order: rgb, mask, depth
        ignore_label=255,  # official IGNORE_LABEL
        align="crop",  # official CropAlignToMask for NYUDv2
        shorter_side=350,  # official SHORTER_SIDE
        crop_size=500,  # official CROP_SIZE
        low_scale=0.5,  # official LOW_SCALE / HIGH_SCALE
        high_scale=2.0,
    )


def recipe():
    # Start the encoder from ImageNet (official ENC_PRETRAINED): --set model.backbone_weights=PATH.
    return Recipe(
        name="nyudv2_refinenet101",
        description=__doc__,
        model=ModelConfig(
            depth=101,  # official ENC = '101'
            num_classes=40,  # official NUM_CLASSES
            # Official BN_threshold (the paper's 2e-2 too); the official exchange tests every channel.
            exchange=ExchangeConfig(threshold=2e-2, scope="all"),
            dropout=0.5,  # official nn.Dropout(p=0.5) on the deepest encoder outputs
        ),
        data=nyudv2_data(),
        train=TrainConfig(
            epochs=(100, 100, 100),  # official NUM_SEGM_EPOCHS
            resnet152_epochs=(150, 150, 150),  # the paper and the official comment: [150] * 3 for ResNet-152
            lr_encoder=(5e-4, 2.5e-4, 1e-4),  # official LR_ENC
            lr_decoder=(3e-3, 1.5e-3, 7e-4),  # official LR_DEC
            momentum=0.9,  # official MOM_ENC / MOM_DEC
            weight_decay=1e-5,  # official WD_ENC / WD_DEC
            # Official LAMDA 2e-4, added once per output (x3); the paper states 5e-3.
            sparsity=2e-4,
            batch_size=6,  # official BATCH_SIZE
            freeze_bn=True,  # official FREEZE_BN
            val_every=5,  # official VAL_EVERY
            seed=42,  # official RANDOM_SEED
            # The paper's figures come from float32 training; "auto" would pick bf16 where the
            # hardware has it (about 2x faster, not the paper's arithmetic).
            precision="float32",
        ),
        eval=EvalConfig(
            batch_size=1,  # official validation: one full-size image at a time
            upsampling="bicubic",  # official validation: cv2.resize(logits, INTER_CUBIC), then argmax
            multi_scale="refinenet",  # the paper's multi-scale test: RefineNet's scales 0.4-1.2, no flip
        ),
    )
