"""The wheel users install: built from the checkout, holding every module of the source tree,
and every command run from it in an environment of its own, outside the checkout."""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from harness import REPO_ROOT, run_cli
from prepare.public_files import write_class_mapping40, write_nyu_labeled_mat, write_nyu_splits

# Builds the wheel and installs it in an environment of its own.
pytestmark = pytest.mark.slow

# Source folder -> the package it installs as (setup.py's PACKAGE_ROOTS).
SOURCE_ROOTS = {"cenkeras": "cenkeras", "cli": "cenkeras/cli", "recipes": "cenkeras/recipes"}


def source_modules():
    """Every .py file of the three source folders, by the path it has inside the wheel."""
    modules = set()
    for folder, installed in SOURCE_ROOTS.items():
        for path in (REPO_ROOT / folder).rglob("*.py"):
            modules.add(f"{installed}/{path.relative_to(REPO_ROOT / folder).as_posix()}")
    return modules


# What a build reads: the packages and the metadata.
BUILD_INPUTS = ["cenkeras", "cli", "recipes", "setup.py", "pyproject.toml", "README.md"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy: setuptools leaves build/ in the tree it builds, and a stale build/lib
    # (a module since moved) would ship in the next wheel built there.
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    # No build isolation: the test venv has setuptools and wheel, and CI may have no index for them.
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out)]
    done = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("cenkeras-*.whl")
    return built


def test_the_wheel_holds_every_module_of_the_source_tree(wheel):
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.endswith(".py")}
    missing = sorted(source_modules() - shipped)
    assert not missing, f"modules of the source tree missing from {wheel.name}: {missing}"
    assert not shipped - source_modules(), f"{wheel.name} ships modules the tree does not have"
    # Nothing named plain `cli`, `recipes` or `tests` lands in site-packages.
    assert all(name.startswith("cenkeras/") for name in shipped), sorted(shipped)
    assert "cenkeras/prepare/nyudv2.py" in shipped


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A venv holding the wheel, installed non-editable; returns its console script.

    The dependencies (TensorFlow and the rest, several GB) are those of the test environment,
    seen through a .pth file: cenkeras itself comes only from the wheel, which the fixture checks.
    """
    env_dir = tmp_path_factory.mktemp("wheel-env")
    venv.EnvBuilder(with_pip=False).create(env_dir)
    site = Path(sysconfig.get_paths(vars={"base": str(env_dir), "platbase": str(env_dir)})["purelib"])
    # A folder named in a .pth file is put on sys.path but its own .pth files are not run, so the
    # test environment's editable install of the checkout does not reach this one.
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "test_env_dependencies.pth").write_text("\n".join(sorted(dependencies)) + "\n")
    python = env_dir / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    outside = tmp_path_factory.mktemp("outside")
    where = subprocess.run(
        [str(python), "-c", "import cenkeras, cenkeras.cli, cenkeras.prepare; print(cenkeras.__file__)"],
        capture_output=True,
        text=True,
        cwd=outside,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    return env_dir / "bin" / "cenkeras", outside


def command_paths(script, cwd):
    """Every command and sub-command of the installed CLI, as argument lists."""
    code = (
        "import json, click; from cenkeras.cli.main import cli\n"
        "def walk(group, prefix):\n"
        "    for name, command in group.commands.items():\n"
        "        yield prefix + [name]\n"
        "        if isinstance(command, click.Group): yield from walk(command, prefix + [name])\n"
        "print(json.dumps(list(walk(cli, []))))"
    )
    done = subprocess.run(
        [str(script.parent / "python"), "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_command_of_the_installed_wheel_answers_help(installed):
    script, outside = installed
    commands = command_paths(script, outside)
    assert ["prepare", "nyudv2"] in commands and ["train"] in commands and len(commands) >= 15
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = dict(
            zip(
                map(" ".join, [[], *commands]),
                pool.map(lambda path: run_cli(*path, "--help", script=script, cwd=outside), [[], *commands]),
            )
        )
    for name, result in runs.items():
        assert result.returncode == 0, (name, result.stderr)
        assert f"Usage: cenkeras {name}".rstrip() in result.stdout, (name, result.stdout)


def test_prepare_nyudv2_runs_from_the_installed_wheel(installed, tmp_path):
    script, outside = installed
    labeled, splits, mapping = tmp_path / "nyu_depth_v2_labeled.mat", tmp_path / "splits.mat", tmp_path / "map.mat"
    write_nyu_labeled_mat(labeled)
    write_nyu_splits(splits, [1, 3, 4], [2, 5, 6])
    write_class_mapping40(mapping)
    out = tmp_path / "nyudv2"
    arguments = ["--labeled", labeled, "--splits", splits, "--mapping", mapping, "--out", out, "--quiet"]
    result = run_cli("prepare", "nyudv2", *arguments, script=script, cwd=outside)
    assert result.returncode == 0, result.stderr
    assert f"Wrote {out} (train 3, val 3)" in result.stdout
    assert len((out / "train.txt").read_text().splitlines()) == 3
    assert len(list((out / "depth").glob("*.png"))) == 6
