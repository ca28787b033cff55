"""A recipe written out as the `--set` lines that make it: what `cenkeras recipes NAME` prints.

Every value a recipe holds, one `key=value` line each, in the form `--set`
parses (sequences comma-separated, booleans true/false, None as none), so
a line can be copied into a command as it is. Applying all the lines to
the recipe gives the recipe back. A mapping of plain values (such as
`data.paper_domains`) is no `--set` key: it is printed as a comment.
"""

import dataclasses


def format_value(value):
    """`value` as `--set` reads it back."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(format_value(item) for item in value)
    return str(value)


# Keys that describe a recipe rather than set a value (not `--set` keys).
DESCRIPTIVE_KEYS = ("name", "description", "task")


def is_section_mapping(value):
    """A non-empty mapping of sections (`data.modalities`): its entries' keys are `--set` keys too."""
    return isinstance(value, dict) and bool(value) and all(map(dataclasses.is_dataclass, value.values()))


def settable_lines(node, prefix=""):
    """`["key=value", ...]` for every value under `node` (a recipe, a section or a dict of sections)."""
    items = (
        [(field.name, getattr(node, field.name)) for field in dataclasses.fields(node)]
        if dataclasses.is_dataclass(node)
        else list(node.items())
    )
    lines = []
    for name, value in items:
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(value) or is_section_mapping(value):
            lines += settable_lines(value, f"{key}.")
        elif isinstance(value, dict):
            lines.append(f"# {key}: {value} (a mapping: set it in a recipe file)")
        elif key not in DESCRIPTIVE_KEYS:
            lines.append(f"{key}={format_value(value)}")
    return lines
