"""Typed experiment configuration: recipes are trees of dataclasses.

A recipe (a Python file, see `cenkeras.recipes`) builds a `Recipe`
(segmentation) or a `TranslationRecipe`; any value can then be changed with
`apply_overrides(recipe, ["train.epochs=3"])`, which is what
`cenkeras train --set train.epochs=3` does.

- `checks`: `ConfigError` and the checks the sections share.
- `network`, `training`: what every task's model and training sections share.
- `segmentation`, `translation`: each task's schema; every section validates itself.
- `overrides`: the `--set` parser.
- `saved`: recipes as plain data (recipe.json) and back, including files of older versions.
"""

from cenkeras.config.checks import ConfigError
from cenkeras.config.network import NetworkConfig, describe_fusion, network_options
from cenkeras.config.overrides import apply_overrides, parse_value, set_value
from cenkeras.config.saved import RENAMED_KEYS, RETIRED_KEYS, recipe_from_dict, to_dict
from cenkeras.config.segmentation import (
    DataConfig,
    EvalConfig,
    ModalityConfig,
    ModelConfig,
    Recipe,
    SyntheticConfig,
    TrainConfig,
)
from cenkeras.config.training import RunOptions
from cenkeras.layers.exchange import ExchangeConfig
from cenkeras.layers.fusion import FusionConfig
from cenkeras.config.translation import (
    GanTrainConfig,
    GeneratorConfig,
    TranslationDataConfig,
    TranslationEvalConfig,
    TranslationRecipe,
    TranslationSyntheticConfig,
)


def validate(recipe):
    """Check values that types alone do not constrain; raises ConfigError naming the key."""
    if not callable(getattr(recipe, "validate", None)):
        raise ConfigError(f"a recipe must be a recipe dataclass (e.g. Recipe), got {type(recipe).__name__}.")
    return recipe.validate()


__all__ = [
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "ExchangeConfig",
    "FusionConfig",
    "GanTrainConfig",
    "GeneratorConfig",
    "ModalityConfig",
    "ModelConfig",
    "NetworkConfig",
    "RENAMED_KEYS",
    "RETIRED_KEYS",
    "Recipe",
    "RunOptions",
    "SyntheticConfig",
    "TrainConfig",
    "TranslationDataConfig",
    "TranslationEvalConfig",
    "TranslationRecipe",
    "TranslationSyntheticConfig",
    "apply_overrides",
    "describe_fusion",
    "network_options",
    "parse_value",
    "recipe_from_dict",
    "set_value",
    "to_dict",
    "validate",
]
