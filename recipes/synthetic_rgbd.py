"""Tiny CEN RGB-D segmenter on the embedded synthetic scenes (the default; no download)."""

from cenkeras.config import (
    DataConfig,
    EvalConfig,
    ModalityConfig,
    ModelConfig,
    Recipe,
    SyntheticConfig,
    TrainConfig,
)


def recipe():
    return Recipe(
        name="synthetic_rgbd",
        description=__doc__,
        model=ModelConfig(
            depth=50,
            num_classes=6,  # floor, wall, ceiling, poster, box, ball
            threshold=2e-2,
            exchange="all",
            # A tiny network so the demo trains on two CPU cores in minutes.
            stage_blocks=(1, 1, 1, 1),
            base_width=8,
            decoder_width=16,
            dropout=0.0,
        ),
        data=DataConfig(
            source="synthetic",
            modalities={
                "rgb": ModalityConfig(kind="rgb"),
                "depth": ModalityConfig(kind="depth", scale=1.0 / 5000.0),
            },
            synthetic=SyntheticConfig(num_train=240, num_val=60, height=96, width=128, seed=0),
            # The official augmentation, scaled to 96x128 scenes.
            shorter_side=72,
            crop_size=96,
            low_scale=0.75,
            high_scale=1.5,
            cache=True,
        ),
        train=TrainConfig(
            # From scratch (no ImageNet encoder), so larger rates than the official ones.
            epochs=(10, 4),
            lr_encoder=(2e-2, 5e-3),
            lr_decoder=(2e-2, 5e-3),
            momentum=0.9,
            weight_decay=1e-5,
            sparsity=2e-4,
            batch_size=8,
            freeze_bn=False,  # batch statistics: nothing pretrained to freeze
            val_every=2,
        ),
        eval=EvalConfig(batch_size=10),
    )
