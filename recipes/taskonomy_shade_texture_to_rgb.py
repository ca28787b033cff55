"""CEN pix2pix on Taskonomy: shade (reshading) + texture (edge_texture) -> RGB, official settings."""

from cenkeras.config import (
    ExchangeConfig,
    GanTrainConfig,
    GeneratorConfig,
    TranslationDataConfig,
    TranslationEvalConfig,
    TranslationRecipe,
)


def taskonomy_recipe(name, description, domains):
    """The official translation settings for any choice of Taskonomy domains (last = target)."""
    return TranslationRecipe(
        name=name,
        description=description,
        model=GeneratorConfig(
            filters=64,  # official ngf / ndf
            levels=8,  # U-Net-256
            discriminator_filters=64,
            exchange=ExchangeConfig(threshold=1e-2, scope="all"),  # official insnorm_threshold
            decoder_norms="private",  # official code; the paper's text says shared
            dropout=0.5,
            norm_scale_init="uniform",  # U(0, 1): PyTorch 1.0's norm init, which the official code pins
        ),
        data=TranslationDataConfig(
            source="list",
            root=None,  # pass --data-dir /path/to/taskonomy
            train_list="train_domain.txt",  # lines like {domain}/point_407_view_2_domain_{domain}.png
            val_list="val_domain.txt",
            domains=domains,
            # Taskonomy's names of the paper's domains (reproduce table4 / table5 use them).
            paper_domains={
                "shade": "reshading",
                "texture": "edge_texture",
                "depth": "depth_euclidean",
                "normal": "normal",
            },
            resize=286,  # official resize_scale
            crop_size=256,  # official crop_size
            mirror=True,  # official fliplr
        ),
        # The official code never switches its generator to eval mode: its images and FIDs come
        # with the decoder's dropout active. Seeded here, so that a run's FID is repeatable.
        eval=TranslationEvalConfig(generator_mode="official"),
        train=GanTrainConfig(
            epochs=300,  # official num_epochs
            lr_generator=2e-4,
            lr_discriminator=2e-4,
            beta_1=0.5,
            beta_2=0.999,
            l1_weight=100.0,  # official gama (L1 weight)
            sparsity=1e-3,  # official lamda
            batch_size=1,  # official batch_size
            val_every=5,  # official val_every
            # The official choice: the best FID of any output every 5 epochs, when the FID network's
            # file is at hand (eval.inception_weights); else the ensemble's L1, as the summary says.
            select_by="auto",
            precision="float32",  # the paper's figures come from float32 training (see nyudv2_refinenet101)
        ),
    )


def recipe():
    return taskonomy_recipe("taskonomy_shade_texture_to_rgb", __doc__, ("reshading", "edge_texture", "rgb"))
