"""Finding and loading recipes: built-in ones (`cenkeras.recipes`) or any Python file.

A recipe file defines a function `recipe()` returning a `cenkeras.config.Recipe`.
Recipes are Python code by design: loading one runs it, so only load files you trust.
"""

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

from cenkeras import recipes as builtin_package


def builtin_recipes():
    """`{name: first docstring line}` of the recipes shipped in `cenkeras.recipes`.

    Read from the files, not run: listing the recipes (`cenkeras recipes`)
    loads neither the schema nor TensorFlow, and starts at once.
    """
    found = {}
    for info in pkgutil.iter_modules(builtin_package.__path__):
        if info.name.startswith("_"):
            continue
        origin = importlib.util.find_spec(f"{builtin_package.__name__}.{info.name}").origin
        docstring = ast.get_docstring(ast.parse(Path(origin).read_text(encoding="utf-8"))) or ""
        summary = docstring.strip().splitlines()
        found[info.name] = summary[0] if summary else ""
    return dict(sorted(found.items()))


def _module_from_file(path):
    from cenkeras import config as config_lib

    spec = importlib.util.spec_from_file_location(f"cenkeras_user_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's code: report it with the file name
        raise config_lib.ConfigError(f"recipe file {path} failed to run: {type(error).__name__}: {error}")
    return module


def load_recipe(name_or_path):
    """A built-in recipe by name (e.g. "synthetic_rgbd") or a recipe file by path."""
    from cenkeras import config as config_lib

    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".py") or path.exists():
        if not path.is_file():
            raise config_lib.ConfigError(f"recipe file not found: {path}")
        module = _module_from_file(path)
        where = str(path)
    else:
        names = builtin_recipes()
        if text not in names:
            raise config_lib.ConfigError(
                f"unknown recipe {text!r}; built-in recipes are {list(names)} (or give a path to a .py file)."
            )
        module = importlib.import_module(f"{builtin_package.__name__}.{text}")
        where = f"built-in recipe {text}"
    factory = getattr(module, "recipe", None)
    if not callable(factory):
        raise config_lib.ConfigError(f"{where} must define a function recipe() returning a Recipe.")
    recipe = factory()
    from cenkeras.tasks import TASKS, get_task

    task = getattr(recipe, "task", None)
    if task not in TASKS or not isinstance(recipe, get_task(task).recipe_class):
        raise config_lib.ConfigError(
            f"{where}: recipe() returned {type(recipe).__name__}, not a Recipe (or another task's recipe "
            f"class: {sorted(TASKS)})."
        )
    return recipe.validate()
