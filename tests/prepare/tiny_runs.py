"""Built-in recipes shrunk to a tiny network and a step or two, for runs on prepared data."""

from cenkeras.experiments.recipe_files import load_recipe


def tiny_segmentation(name):
    """A built-in segmentation recipe with a tiny network and one training step."""
    recipe = load_recipe(name)
    recipe.model.stage_blocks = (1, 1, 1, 1)
    recipe.model.base_width = 4
    recipe.model.decoder_width = 8
    recipe.data.crop_size = 24
    recipe.data.shorter_side = 24
    recipe.train.epochs = (1,)
    recipe.train.lr_encoder = (1e-3,)
    recipe.train.lr_decoder = (1e-3,)
    recipe.train.steps_per_epoch = 1
    recipe.train.batch_size = 2
    recipe.train.val_every = 1
    recipe.train.precision = "float32"
    recipe.train.freeze_bn = False  # no ImageNet weights in these tests
    return recipe
