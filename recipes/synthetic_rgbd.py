"""Tiny CEN RGB-D segmenter on the embedded synthetic scenes (the default; no download)."""

from cenkeras.config import (
    DataConfig,
    EvalConfig,
    ExchangeConfig,
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
            exchange=ExchangeConfig(threshold=2e-2, scope="all"),
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
            # From scratch (no ImageNet encoder): larger rates than the official ones, with a
            # short warm-up, in two stages like the official schedule.
            epochs=(40, 20),
            lr_encoder=(1e-2, 2e-3),
            lr_decoder=(1e-2, 2e-3),
            warmup_steps=150,
            momentum=0.9,
            weight_decay=1e-5,
            # 100x the official lambda (2e-4), so that the L1 term drives half of each
            # modality's bn2 scales under the threshold within the first ~20 epochs and the
            # channel exchange starts during a short demo. Before it does, the ensemble
            # trails the RGB branch; once it does, both branches and the ensemble jump.
            sparsity=2e-2,
            batch_size=8,
            freeze_bn=False,  # batch statistics: nothing pretrained to freeze
            val_every=10,
        ),
        eval=EvalConfig(batch_size=10),
    )
