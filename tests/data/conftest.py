"""Fixtures for the data tests."""

import pytest

from nyud_helpers import nyud_config, write_list, write_sample


@pytest.fixture
def nyud(tmp_path):
    """A 4-sample dataset; returns (root, config, samples)."""
    samples = [write_sample(tmp_path, i) for i in range(4)]
    write_list(tmp_path, "train.txt", range(3))
    write_list(tmp_path, "val.txt", [3], separator="  ")
    return tmp_path, nyud_config(tmp_path), samples
