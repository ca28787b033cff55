"""Property-based fuzzing of what users type and write: every bad input is a cenkeras error.

Bounded (FUZZ_EXAMPLES per property, no deadline) so the suite stays fast; the
count of cases run is printed by `pytest -s` through hypothesis' statistics
(`--hypothesis-show-statistics`).
"""

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cenkeras import config as config_lib
from cenkeras.data.listfile import read_list, resolve_path
from cenkeras.data.modalities import DataError
from cenkeras.recipe_files import load_recipe

FUZZ_EXAMPLES = 300
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
COLUMNS = {"rgb": 0, "mask": 1, "depth": 2}

# Keys that exist, so that the fuzzer also reaches the value parsers, not only "unknown key".
KNOWN_KEYS = ["train.epochs", "train.lr_encoder", "train.batch_size", "train.precision", "model.exchange",
              "model.threshold", "data.crop_size", "data.modalities.depth.scale", "train.freeze_bn",
              "model.stage_blocks", "data.source", "eval.scales"]


@FUZZ
@given(key=st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=30)), value=st.text(max_size=40),
       separator=st.sampled_from(["=", "", "==", " = "]))
def test_override_parser_accepts_or_names_the_problem(key, value, separator):
    recipe = load_recipe("synthetic_rgbd")
    try:
        config_lib.apply_overrides(recipe, [f"{key}{separator}{value}"])
    except config_lib.ConfigError as error:
        assert str(error)  # a message for the user, nothing else escapes


@FUZZ
@given(content=st.binary(max_size=400))
def test_list_file_parser_reads_or_names_the_file(tmp_path, content):
    list_file = tmp_path / "list.txt"
    list_file.write_bytes(content)
    try:
        entries = read_list(list_file, tmp_path, COLUMNS)
    except DataError as error:
        assert str(list_file) in str(error)
    else:
        for entry in entries:  # whatever was accepted stays under the root
            for path in entry.paths.values():
                assert _inside(path, tmp_path)


@FUZZ
@given(relative=st.lists(st.sampled_from(["a", "b", ".", "..", "/", "\\", "~", ":", " ", "/etc", "C:"]), max_size=12).map("".join))
def test_resolved_paths_never_leave_the_root(tmp_path, relative):
    try:
        path = resolve_path(tmp_path, relative, "fuzz:1")
    except DataError as error:
        assert "fuzz:1" in str(error)
    else:
        assert _inside(path, tmp_path)


def _inside(path, root):
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root
