"""The legend of prediction overlays: the classes present, largest first, in their mask colours."""

import numpy as np

from cenkeras.data.class_names import read_class_names
from cenkeras.serving.predict import colorize, draw_legend, legend_entries


def swatch_colours(panel):
    """The non-white, non-black colours of a legend panel that cover at least a swatch's area."""
    colours, counts = np.unique(panel.reshape(-1, 3), axis=0, return_counts=True)
    return {tuple(int(v) for v in c) for c, n in zip(colours, counts) if n >= 50 and len(set(c)) > 1}


def test_entries_are_the_classes_present_largest_first_ignored_pixels_left_out():
    labels = np.array([[3, 3, 3, 1, 255, 255, 255, 255]], np.uint8)
    entries = legend_entries(labels, ["a", "b", "c", "d"])
    assert [(label, name) for label, name, _, _ in entries] == [(3, "d"), (1, "b")]
    assert [share for *_, share in entries] == [0.75, 0.25]
    assert entries[0][2] == tuple(colorize(np.array([[3]]))[0, 0])
    assert [name for _, name, _, _ in legend_entries(labels)] == ["class 3", "class 1"]


def test_the_panel_shows_every_class_that_fits_and_counts_the_rest():
    labels = np.repeat(np.arange(6, dtype=np.uint8), 10)[None]
    entries = legend_entries(labels, [f"class name {i}" for i in range(6)])
    tall = draw_legend(entries, 240)
    assert tall.shape[0] == 240 and tall.dtype == np.uint8
    assert swatch_colours(tall) == {entry[2] for entry in entries}
    short = draw_legend(entries, 40)  # room for two lines: one class, then "+ 5 more"
    assert swatch_colours(short) == {entries[0][2]}


def test_a_class_names_file_of_the_wrong_length_is_left_out_with_a_warning(tmp_path):
    import pytest

    (tmp_path / "class_names.txt").write_text("wall\nfloor\n")
    assert read_class_names(tmp_path, 2) == ["wall", "floor"]
    with pytest.warns(UserWarning, match="names 2 classes, the model has 3"):
        assert read_class_names(tmp_path, 3) is None
    assert read_class_names(tmp_path / "elsewhere", 2) is None
