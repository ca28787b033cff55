"""The tasks cenkeras runs, keyed by a recipe's `task` value.

Entries name the module and class, imported on first use, so reading a
recipe does not load the training code of every task.
"""

import importlib

from cenkeras.config.checks import ConfigError

TASKS = {
    "segmentation": "cenkeras.tasks.segmentation_run:SegmentationTask",
    "translation": "cenkeras.tasks.translation_run:TranslationTask",
}

_instances = {}


def get_task(name):
    """The `Task` registered as `name`; an unknown name is a ConfigError listing the known ones."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; cenkeras runs {sorted(TASKS)}.")
    if name not in _instances:
        module, _, attribute = TASKS[name].partition(":")
        _instances[name] = getattr(importlib.import_module(module), attribute)()
    return _instances[name]


def task_for(recipe):
    """The `Task` of a recipe object, checked against its task's schema."""
    task = get_task(getattr(recipe, "task", None))
    if not isinstance(recipe, task.recipe_class):
        raise ConfigError(f"a {task.name} recipe must be a {task.recipe_class.__name__}, got {type(recipe).__name__}.")
    return task
