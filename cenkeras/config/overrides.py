"""`--set key=value`: parsing a value as its field's type, and setting it in a recipe.

Unknown keys and values that do not parse as the field's type are errors
naming the key. A key older versions used (`RENAMED_KEYS`) is set under
its current name.
"""

import dataclasses
import json
import typing

from cenkeras.config.checks import ConfigError
from cenkeras.config.saved import current_key


def _parse_bool(text, key):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}: expected true/false, got {text!r}.")


def _parse_sequence(text, key):
    text = text.strip()
    if text.startswith(("[", "(")):
        try:
            items = json.loads("[" + text[1:-1] + "]")
        except json.JSONDecodeError:
            raise ConfigError(f"{key}: cannot parse {text!r} as a list (use e.g. [1,2,3] or 1,2,3).")
        return [str(item) for item in items]
    return [part for part in (p.strip() for p in text.split(",")) if part]


def _parse_untyped_item(item):
    for cast in (int, float):
        try:
            return cast(item)
        except ValueError:
            continue
    return item


def parse_value(text, annotation, key):
    """Parse the text of `--set key=text` as `annotation` (the field's type)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union and type(None) in args:
        if text.strip().lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)][0]
        return parse_value(text, inner, key)
    if annotation is bool:
        return _parse_bool(text, key)
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {text!r}.")
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {text!r}.")
    if annotation is str:
        return text
    if origin is tuple and args and args[-1] is Ellipsis:
        # Typed sequences (tuple[float, ...]): every item parsed as the element type.
        return tuple(parse_value(item, args[0], key) for item in _parse_sequence(text, key))
    if annotation is tuple or origin is tuple:
        return tuple(_parse_untyped_item(item) for item in _parse_sequence(text, key))
    raise ConfigError(f"{key}: values of type {annotation} cannot be set from the command line.")


def _field_types(obj):
    return {f.name: f.type for f in dataclasses.fields(obj)}


def _section(recipe, key, parts):
    """The dataclass (or dict) that holds the last part of `key`."""
    node = recipe
    path = []
    for part in parts:
        path.append(part)
        if isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"Unknown key {key!r}: no {'.'.join(path)!r} (have {sorted(node)}).")
            node = node[part]
        elif dataclasses.is_dataclass(node):
            if part not in _field_types(node):
                raise ConfigError(
                    f"Unknown key {key!r}: {'.'.join(path[:-1]) or 'recipe'} has no {part!r} "
                    f"(have {sorted(_field_types(node))})."
                )
            node = getattr(node, part)
        else:
            raise ConfigError(f"Unknown key {key!r}: {'.'.join(path[:-1])} is a value, not a section.")
    return node


def set_value(recipe, key, text):
    """Set `key` (dotted path, e.g. `train.epochs` or `data.modalities.depth.scale`).

    A key of an older version (`model.exchange_rule`) sets its current one (`model.exchange.rule`).
    """
    key = current_key(key)
    parts = key.split(".")
    node = _section(recipe, key, parts[:-1])
    last = parts[-1]
    if not dataclasses.is_dataclass(node) or last not in _field_types(node):
        have = sorted(_field_types(node)) if dataclasses.is_dataclass(node) else sorted(node)
        raise ConfigError(f"Unknown key {key!r} (have {have} here).")
    annotation = typing.get_type_hints(type(node))[last]
    if dataclasses.is_dataclass(getattr(node, last)) or dict in (annotation, typing.get_origin(annotation)):
        raise ConfigError(f"{key!r} is a section; set one of its values, e.g. {key}.<name>=...")
    setattr(node, last, parse_value(text, annotation, key))


def apply_overrides(recipe, overrides):
    """Apply `["a.b=value", ...]`, then validate the recipe."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override {item!r} must look like key=value (e.g. train.epochs=3).")
        key, text = item.split("=", 1)
        set_value(recipe, key.strip(), text.strip())
    return recipe.validate()
