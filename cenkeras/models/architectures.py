"""The segmentation architectures, keyed by a recipe's `model.architecture`.

An `Architecture` is a name, a title for run summaries, a builder and the dataclass of
its own options (the recipe's `model.decoder` section: PSPNet's pyramid bins and auxiliary
weight live there, not in fields every other architecture ignores). What all of them share
(depth, classes, the exchange, the fusion, the ablation switches) stays in the recipe's model
section and reaches every builder the same way.

Adding one is a module that defines the network and an `ARCHITECTURE`, plus one line: in
`BUILT_IN` here, or, from another package, an entry point of the group `cenkeras.architectures`
(`toy = my_package.toy:ARCHITECTURE`), which every process that reads the recipe finds, so that
`cenkeras eval` and `export` of the run build it too. `register_architecture` adds one in the
running process only (a notebook, a recipe file).
"""

import dataclasses
import importlib
from importlib import metadata
from typing import Callable

ENTRY_POINT_GROUP = "cenkeras.architectures"

# name -> "module:attribute" of its `Architecture`, imported on first use.
BUILT_IN = {
    "refinenet": "cenkeras.models.refinenet:ARCHITECTURE",
    "pspnet": "cenkeras.models.pspnet:ARCHITECTURE",
}


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options section of an architecture that has none of its own."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A segmentation architecture the recipes can name.

    Args:
        name: what `model.architecture` says.
        title: how run summaries name it ("PSPNet" prints as "PSPNet-101").
        build: `build(depth, num_classes, modalities, **options)` returning a
            `cenkeras.models.MultimodalModel`; `options` are `network` (the
            `cenkeras.models.NetworkOptions` every CEN network takes), the encoder's
            (`stage_blocks`, `freeze_norm_statistics`, `preprocessing`, ...) and the fields of
            `options`.
        options: a dataclass of the architecture's own options, with defaults: the recipe's
            `model.decoder` section. Its `validate()`, if it has one, raises `ValueError`.

    Examples:
        >>> from cenkeras.models.architectures import get_architecture
        >>> get_architecture("pspnet").options()
        PSPNetOptions(pyramid_bins=(1, 2, 3, 6), auxiliary_weight=0.4)
        >>> get_architecture("refinenet").title
        'RefineNet'
    """

    name: str
    title: str
    build: Callable
    options: type = NoOptions

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"an architecture's name must be an identifier, got {self.name!r}.")
        if not dataclasses.is_dataclass(self.options):
            raise ValueError(f"architecture {self.name!r}: options must be a dataclass, got {self.options!r}.")


_registered = {}


def register_architecture(architecture):
    """Make `architecture` nameable by recipes in this process; a name already taken is an error."""
    if not isinstance(architecture, Architecture):
        raise TypeError(f"register_architecture takes an Architecture, got {type(architecture).__name__}.")
    if architecture.name in architecture_names() and _registered.get(architecture.name) is not architecture:
        raise ValueError(f"an architecture named {architecture.name!r} is already registered.")
    _registered[architecture.name] = architecture
    return architecture


def _entry_points():
    return {entry.name: entry for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def architecture_names():
    """Every name a recipe can give `model.architecture`, sorted."""
    return sorted({*BUILT_IN, *_entry_points(), *_registered})


def get_architecture(name):
    """The `Architecture` named `name`; an unknown name is a `ValueError` listing the known ones."""
    if name in _registered:
        return _registered[name]
    if name in BUILT_IN:
        module, _, attribute = BUILT_IN[name].partition(":")
        found = getattr(importlib.import_module(module), attribute)
    else:
        entry = _entry_points().get(name)
        if entry is None:
            raise ValueError(f"unknown architecture {name!r}; the known ones are {architecture_names()}.")
        try:
            found = entry.load()
        except Exception as error:  # another package's code: say which entry failed
            raise ValueError(
                f"architecture {name!r} ({entry.value}, entry point group {ENTRY_POINT_GROUP}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
    if not isinstance(found, Architecture) or found.name != name:
        raise ValueError(f"the entry for architecture {name!r} is not an Architecture named {name!r}: {found!r}.")
    _registered[name] = found
    return found
