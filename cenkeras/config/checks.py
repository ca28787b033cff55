"""The error of a recipe that does not fit the schema, and the checks the schema's sections share.

Every check names the recipe key (`train.batch_size`) in its message, so
`--set` typos and bad recipe files are fixed without reading code.
"""

import math


class ConfigError(ValueError):
    """A recipe or override that does not fit the configuration schema."""


def check_choice(key, value, choices):
    if value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}.")


def check_number(key, value, minimum=0.0, maximum=None):
    """A finite number in `[minimum, maximum]`."""
    inside = math.isfinite(value) and value >= minimum and (maximum is None or value <= maximum)
    if not inside:
        bound = f"be in [{minimum:g}, {maximum:g}]" if maximum is not None else f"be a finite number >= {minimum:g}"
        raise ConfigError(f"{key} must {bound}, got {value}.")


def check_at_least(key, value, minimum, unit=""):
    if value < minimum:
        raise ConfigError(f"{key} must be >= {minimum}{unit}, got {value}.")


def check_positive_numbers(key, values):
    if not values or not all(math.isfinite(v) and v > 0 for v in values):
        raise ConfigError(f"{key} must be positive numbers, got {list(values)}.")


def validate_sections(recipe):
    """Each section of a recipe (data, model, train, eval) checks its own values."""
    for name in ("data", "model", "train", "eval"):
        getattr(recipe, name).validate()


def check_list_source(section, prefix="data"):
    """List datasets name their list files (`data.root` may come from `--data-dir` at run time)."""
    if section.source == "list":
        for key in ("train_list", "val_list"):
            if not getattr(section, key):
                raise ConfigError(f"{prefix}.{key} is required when {prefix}.source is 'list'.")
