"""The package's layout holds its architecture: a root with only `__init__` and `version`, and
imports that run one way, cli -> experiments -> tasks -> serving / training -> models -> layers."""

import ast

from harness import REPO_ROOT

# Installed package -> source folder (setup.py's PACKAGE_ROOTS).
SOURCES = {"cenkeras": REPO_ROOT / "cenkeras", "cenkeras.cli": REPO_ROOT / "cli"}
# The one-way chain: a package may import those of a lower rank and its own, never a higher one.
# Serving may use training's run directories and precision; training knows nothing of serving.
RANKS = {"utils": 0, "layers": 1, "models": 2, "training": 3, "serving": 4, "tasks": 5, "experiments": 6, "cli": 7}
# Below the chain's upper half: what the recipe schema, data, metrics and dataset preparation may never
# import (they are read by the packages above them).
FOUNDATIONS = {"config", "data", "metrics", "prepare", "interop"}
ABOVE_FOUNDATIONS = {"serving", "tasks", "experiments", "cli"}
# Known imports against the direction, each with why it is still there. Reading a saved recipe.json
# picks its schema by the task it names, and the task registry holds the schemas.
KNOWN_UPWARD = {("cenkeras.config.saved", "tasks")}


def modules():
    """(package under cenkeras, module name, path) of every source module."""
    for installed, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [installed, *path.relative_to(folder).with_suffix("").parts]
            yield parts[1] if installed == "cenkeras" and len(parts) > 2 else "cli", ".".join(parts), path


def imported_packages(path):
    """(line, package under cenkeras) of every cenkeras import in the file, in functions too."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "cenkeras" else [f"cenkeras.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "cenkeras" and len(parts) > 1:
                yield node.lineno, parts[1]


def test_the_package_root_holds_only_init_and_version():
    loose = sorted(p.name for p in (REPO_ROOT / "cenkeras").glob("*.py"))
    assert loose == ["__init__.py", "version.py"], loose


def test_every_subpackage_says_its_role():
    for init in (REPO_ROOT / "cenkeras").glob("*/__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring and len(docstring) > 40, f"{init.relative_to(REPO_ROOT)} has no docstring saying its role"


def test_imports_run_one_way():
    upward = []
    for package, module, path in modules():
        for line, target in imported_packages(path):
            if target == package or (module, target) in KNOWN_UPWARD:
                continue
            if package in RANKS and target in RANKS and RANKS[target] > RANKS[package]:
                upward.append(f"{module}:{line} imports cenkeras.{target}")
            if package in FOUNDATIONS and target in ABOVE_FOUNDATIONS:
                upward.append(f"{module}:{line} imports cenkeras.{target}")
            if package in ("layers", "models") and target not in RANKS:
                upward.append(f"{module}:{line} imports cenkeras.{target}")
    assert not upward, "imports against the direction:\n" + "\n".join(upward)


def test_the_direction_check_sees_an_upward_import(tmp_path):
    """A layer that imports a serving module is caught (in a function too)."""
    layer = tmp_path / "layer.py"
    layer.write_text("def f():\n    from cenkeras.serving.frozen_norms import FrozenNorms\n")
    assert list(imported_packages(layer)) == [(2, "serving")]
