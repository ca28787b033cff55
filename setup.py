"""Package discovery for the wheel (the metadata is in pyproject.toml).

The repository keeps `cli/` and `recipes/` at its top level; installed, they live under the
`cenkeras` namespace so that nothing named plain `cli` or `recipes` lands in site-packages.
Every package under the three folders is found, not listed, so a new sub-package ships
without an edit here (tests/test_wheel.py checks the built wheel against the source tree).
"""

from setuptools import find_packages, setup

# Installed name -> folder in the repository.
PACKAGE_ROOTS = {"cenkeras": "cenkeras", "cenkeras.cli": "cli", "cenkeras.recipes": "recipes"}


def packages_under(name, folder):
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(
    packages=[package for name, folder in PACKAGE_ROOTS.items() for package in packages_under(name, folder)],
    package_dir=PACKAGE_ROOTS,
)
