"""Recipes as plain data (what a run directory's recipe.json holds), and back, old files included."""

import dataclasses
import typing

from cenkeras.config.checks import ConfigError
from cenkeras.utils.renamed_keys import RENAMED_KEYS, move_renamed, renamed_options

# Keys older versions wrote that no longer mean anything; saved recipes holding them still load.
RETIRED_KEYS = {
    # The training order became a full permutation per pass (cenkeras.data.indexed).
    "DataConfig": {"shuffle_buffer"},
    "TranslationDataConfig": {"shuffle_buffer"},
}

# Keys older versions held flat in the model section for one architecture, which the others
# ignored: moved into `model.decoder` for that architecture, dropped for the others.
ARCHITECTURE_KEYS = {"model.pyramid_bins": "pspnet", "model.auxiliary_weight": "pspnet"}


def current_key(key):
    """The name a key has now (`model.exchange_rule` -> `model.exchange.rule`)."""
    return RENAMED_KEYS.get(key, key)


def _upgrade(data):
    """Recipe data with the keys of older versions moved to their current places."""
    data = {section: dict(values) if isinstance(values, dict) else values for section, values in data.items()}
    model = data.get("model")
    for key, architecture in ARCHITECTURE_KEYS.items():
        name = key.split(".", 1)[1]
        if isinstance(model, dict) and name in model and model.get("architecture", "refinenet") != architecture:
            del model[name]
    for section in {key.split(".", 1)[0] for key in RENAMED_KEYS}:
        if isinstance(data.get(section), dict):
            data[section] = move_renamed(data[section], renamed_options(section), is_section=_is_mapping)
    return data


def _is_mapping(value):
    return isinstance(value, dict)


def to_dict(recipe):
    """The recipe as plain JSON-able data (what a run directory stores)."""
    return dataclasses.asdict(recipe)


def _is_tuple_hint(hint):
    return hint is tuple or typing.get_origin(hint) is tuple


def section_from_dict(cls, values):
    """An instance of the dataclass `cls` from plain data (JSON lists become the schema's tuples)."""
    values = {k: v for k, v in values.items() if k not in RETIRED_KEYS.get(cls.__name__, ())}
    unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ConfigError(f"Unknown keys {sorted(unknown)} in a saved {cls.__name__}.")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in dataclasses.fields(cls):
        if field.name not in values:
            continue
        value, hint = values[field.name], hints[field.name]
        if dataclasses.is_dataclass(hint):
            value = section_from_dict(hint, value)
        elif typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            # Named sections, e.g. data.modalities: {name: ModalityConfig}.
            value = {name: section_from_dict(typing.get_args(hint)[1], v) for name, v in value.items()}
        elif value is not None and (_is_tuple_hint(hint) or isinstance(value, list)):
            # JSON has lists where the schema has tuples (also inside Optional[tuple]).
            value = tuple(value)
        kwargs[field.name] = value
    return cls(**kwargs)


def recipe_from_dict(data):
    """Rebuild a recipe from `to_dict` output (e.g. a run directory's recipe.json), validated.

    The task named in it ("segmentation" when absent: files from before
    translation existed) picks the schema.
    """
    from cenkeras.tasks.registry import get_task

    recipe_class = get_task(data.get("task", "segmentation")).recipe_class
    return section_from_dict(recipe_class, _upgrade(data)).validate()
