"""Option names of earlier versions and their names now: one table for recipes (recipe files,
`--set`, saved `recipe.json`) and for networks' saved configs (`.keras` files).

The exchange and the fusion became one object each, the speed option took its layers' name, and
PSPNet's options moved into the architecture's own section of a recipe.
"""

RENAMED_KEYS = {
    "model.threshold": "model.exchange.threshold",
    "model.exchange": "model.exchange.scope",  # when it holds a value, not the section
    "model.sparsity_scope": "model.exchange.sparsity_scope",
    "model.exchange_rule": "model.exchange.rule",
    "model.exchange_portion": "model.exchange.portion",
    "model.fusion": "model.fusion.method",  # when it holds a value, not the section
    "model.fusion_stage": "model.fusion.stage",
    "model.alignment_weight": "model.fusion.alignment_weight",
    "model.affine_norms": "model.affine_inference",
    "model.pyramid_bins": "model.decoder.pyramid_bins",
    "model.auxiliary_weight": "model.decoder.auxiliary_weight",
}

# A recipe's grouping that a network's config does not have: the architecture's own options are
# plain arguments of its network.
RECIPE_ONLY_SECTIONS = ("model.decoder.",)


def renamed_options(section="model", network_config=False):
    """`{old name: new path}` of a recipe section's renamed options, e.g. `"exchange_rule":
    ("exchange", "rule")`; value-to-section renames (`exchange` -> `exchange.scope`) first, so
    that they move before other values land in that section. `network_config`: only those a
    network's saved config holds."""
    renames = {
        old.split(".", 1)[1]: tuple(new.split(".")[1:])
        for old, new in RENAMED_KEYS.items()
        if old.startswith(section + ".") and not (network_config and new.startswith(RECIPE_ONLY_SECTIONS))
    }
    return dict(sorted(renames.items(), key=lambda item: item[1][0] != item[0]))


def move_renamed(values, renames, is_section):
    """`values` (a dict) with each renamed option moved to its path; a value under an old name
    that is now a section (`is_section(value)`) is the current section and stays."""
    values = dict(values)
    for old, path in renames.items():
        if old not in values or is_section(values[old]):
            continue
        value = values.pop(old)
        if len(path) == 1:
            values[path[0]] = value
            continue
        section = values.get(path[0])
        values[path[0]] = {**(section if isinstance(section, dict) else {}), path[1]: value}
    return values
