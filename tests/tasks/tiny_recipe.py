"""A synthetic recipe small enough to train in seconds in tests."""

import numpy as np

from cenkeras.experiments.recipe_files import load_recipe


def tiny_recipe(epochs=(2, 1), **train):
    recipe = load_recipe("synthetic_rgbd")
    recipe.name = "tiny"
    recipe.data.synthetic.num_train = 16
    recipe.data.synthetic.num_val = 4
    recipe.data.synthetic.height = 32
    recipe.data.synthetic.width = 48
    recipe.data.crop_size = 32
    recipe.data.shorter_side = 24
    recipe.data.cache = False
    recipe.model.base_width = 4
    recipe.model.decoder_width = 8
    recipe.train.epochs = tuple(epochs)
    recipe.train.lr_encoder = (1e-2,) * len(epochs)
    recipe.train.lr_decoder = (1e-2,) * len(epochs)
    recipe.train.batch_size = 4
    recipe.train.warmup_steps = 0
    recipe.train.val_every = 1
    # Tests pin float32 (results independent of the machine); bf16 has its own tests.
    recipe.train.precision = "float32"
    recipe.eval.batch_size = 4
    for key, value in train.items():
        setattr(recipe.train, key, value)
    return recipe


def tiny_translation_recipe():
    recipe = load_recipe("synthetic_translation")
    recipe.name = "tiny_translation"
    recipe.data.synthetic.num_train = 8
    recipe.data.synthetic.num_val = 4
    recipe.data.synthetic.size = 32
    recipe.data.resize = 36
    recipe.data.crop_size = 32
    recipe.model.levels = 5
    recipe.model.filters = 4
    recipe.model.discriminator_filters = 4
    recipe.train.epochs = 1
    recipe.train.steps_per_epoch = 2
    recipe.train.val_every = 1
    recipe.train.precision = "float32"
    return recipe


def torchvision_style_backbone(recipe, seed=0):
    """A single-modality ResNet state dict with torchvision's key names, shaped for `recipe`'s encoder
    (random values, nonzero moving statistics), plus a classifier: what an ImageNet file holds."""
    from cenkeras.interop import export_torch_state_dict
    from cenkeras.tasks.segmentation_run import build_segmenter

    source = build_segmenter(recipe)
    rng = np.random.default_rng(seed)
    for variable in source.weights:
        values = rng.normal(size=variable.shape) * 0.1
        if "variance" in variable.path:
            values = np.abs(values) + 0.5
        variable.assign(values.astype("float32"))
    state = {}
    for key, value in export_torch_state_dict(source).items():
        # The first modality's private norm stands for the single norm of a one-stream ResNet.
        if key.startswith(("conv1.", "bn1.", "layer")) and ".bn_" not in key.replace(".bn_0.", "."):
            state[key.replace(".bn_0", "")] = np.ascontiguousarray(value)
    state["fc.weight"] = np.zeros((10, 4), "float32")
    return state


def write_backbone(recipe, path, seed=0):
    """`torchvision_style_backbone` written to `path` (.npz or .safetensors); returns (path, state)."""
    state = torchvision_style_backbone(recipe, seed)
    if str(path).endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file(state, str(path))
    else:
        np.savez(path, **state)
    return str(path), state
