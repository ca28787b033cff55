"""The `cenkeras` command and the installed package layout."""

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import cenkeras
from cenkeras.cli.main import cli


def test_help_lists_info():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "info" in result.output


def test_info_prints_versions_and_devices():
    import keras
    import tensorflow as tf

    result = CliRunner().invoke(cli, ["info"])
    assert result.exit_code == 0, result.output
    assert f"cenkeras    {cenkeras.__version__}" in result.output
    assert f"TensorFlow  {tf.__version__}" in result.output
    assert f"Keras       {keras.__version__}" in result.output
    assert "Python" in result.output and "CPU" in result.output


def test_version_option():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and cenkeras.__version__ in result.output


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["trian"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "cenkeras"
    assert script.exists(), "pip install did not create the cenkeras console script"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Usage: cenkeras" in result.stdout


def test_cli_and_recipes_live_under_the_cenkeras_namespace(tmp_path):
    """Installed, nothing named plain `cli` or `recipes` is importable (run outside the repo)."""
    code = (
        "import importlib.util as u, cenkeras.cli, cenkeras.recipes;print(u.find_spec('cli'), u.find_spec('recipes'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None"]
