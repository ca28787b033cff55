"""Weight files: a run's checkpoints written by an earlier cenkeras load into today's models.

`fixtures/weight_file_layout_8312749.json` lists every variable of the
`.weights.h5` files that the tiny models below wrote at commit 8312749,
when the builders still made `keras.layers.ZeroPadding2D` +
`keras.layers.Conv2D`: path and shape. Keras loads a file by those paths
(the snake-case class name of a layer and its rank among that class), so
equal layouts mean an old `best.weights.h5` loads, variable for variable.
"""

import json
from pathlib import Path

import h5py
import pytest

from harness import tiny_models

FIXTURE = Path(__file__).parent / "fixtures" / "weight_file_layout_8312749.json"


def layout(path):
    """`{dataset path: shape}` of a weights file."""
    datasets = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda key, item: datasets.update({key: list(item.shape)}) if isinstance(item, h5py.Dataset) else None
        )
    return datasets


@pytest.mark.parametrize("name", sorted(tiny_models()))
def test_weight_files_keep_the_layout_earlier_runs_wrote(name, tmp_path):
    written_before = json.loads(FIXTURE.read_text())["datasets"][name]
    tiny_models()[name]().save_weights(tmp_path / "model.weights.h5")
    assert layout(tmp_path / "model.weights.h5") == written_before
