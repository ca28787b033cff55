"""Files from elsewhere cannot run code: .keras in safe mode, torch weights_only, no pickle."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cenkeras.cli.main import cli
from cenkeras.interop import StateDictError, read_state_dict

PACKAGE = Path(__file__).resolve().parents[1] / "cenkeras"


def keras_file_with_code(tmp_path):
    """A .keras model whose Lambda layer writes a marker file when it runs."""
    marker = tmp_path / "code_ran"
    touch = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    inputs = keras.Input((8, 8, 3), name="rgb")
    outputs = keras.layers.Lambda(eval(f"lambda x: x if {touch} else x"))(inputs)
    path = tmp_path / "shared.keras"
    keras.Model(inputs, outputs).save(path)
    marker.unlink()  # building the model ran the layer once
    return path, marker


@pytest.mark.parametrize("command", ["inspect", "predict"])
def test_a_keras_file_holding_code_is_refused_unrun(tmp_path, command):
    path, marker = keras_file_with_code(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    args = {
        "inspect": ["inspect", str(path), "--out", str(tmp_path / "out")],
        "predict": ["predict", str(path), "--input", f"rgb={tmp_path / 'image.png'}", "--out", str(tmp_path / "out")],
    }[command]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    assert f"{path} cannot be loaded in safe mode" in result.output and "Lambda" in result.output
    assert "Traceback" not in result.output
    assert not marker.exists()


def test_an_npz_holding_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, kernel=np.zeros(3, np.float32), payload=np.array([{"x": 1}], dtype=object))
    with pytest.raises(StateDictError, match=r"cannot read .*weights.npz as a NumPy archive of arrays: Object arrays"):
        read_state_dict(path)


class _Payload:
    """Unpickling this runs code (creates `marker`): what a hostile checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_torch_checkpoint_holding_code_is_refused_unrun(tmp_path):
    torch = pytest.importorskip("torch")
    marker = tmp_path / "code_ran"
    path = tmp_path / "model.pth"
    torch.save({"conv1.weight": torch.zeros(2), "extra": _Payload(str(marker))}, path)
    with pytest.raises(StateDictError, match=r"cannot read .*model.pth as a PyTorch checkpoint"):
        read_state_dict(path)
    assert not marker.exists()


UNSAFE = re.compile(
    r"import pickle|pickle\.load|allow_pickle=True|safe_mode=False|weights_only=False|"
    r"cloudpickle|dill|marshal\.loads|yaml\.load\(|\beval\(|\bexec\("
)


def test_no_unsafe_deserialisation_in_the_package():
    """The code paths that read files never unpickle or evaluate (recipes are code by design and
    are loaded with importlib, not eval)."""
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNSAFE.search(line)
    ]
    assert offenders == []
