"""The `cenkeras` command and the installed package layout."""

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import cenkeras
from cenkeras.cli.main import cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in cli.commands:
        assert f"\n  {command} " in result.output, command


# Run before the console script's main(): at exit, says whether TensorFlow was ever imported.
TENSORFLOW_WATCH = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr))"
)


def test_help_and_version_start_without_tensorflow_and_print_nothing_of_it():
    """`cenkeras --help`, a command's `--help`, `--version` and the recipe listing never load
    TensorFlow (which takes seconds and prints its start-up lines): the console script imports it
    when a command needs it."""
    from harness import run_cli

    for args in (["--help"], ["train", "--help"], ["reproduce", "--help"], ["--version"], ["recipes"]):
        done = run_cli(*args, prelude=TENSORFLOW_WATCH, timeout=60)
        assert done.returncode == 0, (args, done.stderr[-1000:])
        assert done.stderr == "tensorflow imported: False\n", (args, done.stderr[-1000:])
        if args == ["recipes"]:
            assert "nyudv2_refinenet101      CEN RefineNet-101 on NYUDv2 RGB-D" in done.stdout
    done = run_cli("info", prelude=TENSORFLOW_WATCH, timeout=120)
    assert done.returncode == 0 and "tensorflow imported: True" in done.stderr  # a command that needs it


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


def test_a_failing_command_prints_its_error_line_only_and_leaves_no_log_in_a_folder_not_a_run(tmp_path):
    """`cenkeras eval` of a data folder: one error line, no TensorFlow start-up line, and no
    cenkeras.log written into the user's folder."""
    from harness import run_cli

    folder = tmp_path / "data"
    folder.mkdir()
    done = run_cli("eval", folder, timeout=120)
    assert done.returncode == 1
    assert done.stderr == f"Error: {folder} is not a run directory (no recipe.json).\n"
    assert list(folder.iterdir()) == []
    import os

    shown = run_cli("eval", folder, timeout=120, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"})
    assert shown.returncode == 1 and "oneDNN" in shown.stderr  # asked for: TensorFlow's lines shown
