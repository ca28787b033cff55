"""`check-data`: every listed sample decoded as training reads it, every problem reported at once."""

import numpy as np
import pytest
from PIL import Image

from harness import run_cli
from nyud_helpers import nyud_config, write_list, write_sample
from test_translation_data import DOMAINS, config_for, write_point

from cenkeras.data.pipeline import list_sample_checks
from cenkeras.data.translation_pipeline import template_sample_checks
from cenkeras.data.verify import DataProblem, SampleCheck, check_samples


def spoil_nyud(root):
    """Seven kinds of bad sample among 12 frames; returns {train.txt line: words its problem must hold}."""
    for index in range(12):
        write_sample(root, index)
    write_list(root, "train.txt", range(10))
    write_list(root, "val.txt", [10, 11])
    (root / "rgb" / "000001.png").write_bytes((root / "rgb" / "000001.png").read_bytes()[:120])
    Image.fromarray(np.full((24, 32), 9, np.uint8)).save(root / "masks" / "000002.png")
    Image.fromarray(np.zeros((20, 32, 4), np.uint8)).save(root / "rgb" / "000003.png")  # RGBA, and too small
    Image.fromarray(np.zeros((24, 32), np.uint8)).save(root / "depth" / "000004.png")  # 8-bit depth
    Image.fromarray(np.zeros((24, 32), np.uint16)).save(root / "rgb" / "000005.png")  # 16-bit colour
    (root / "depth" / "000006.png").unlink()
    with open(root / "train.txt", "a") as listing:
        listing.write("rgb/000007.png\n../outside.png masks/000007.png depth/000007.png\n")
    return {
        2: ["cannot read image", "000001.png"],
        3: ["labels [9] >= num_classes (5)", "000002.png"],
        4: ["000003.png has 4 channels"],
        5: ["depth image", "000004.png", "16-bit"],
        6: ["000005.png", "16-bit or float"],
        7: ["file not found", "000006.png"],
        11: ["expected at least 3 paths"],
        12: ["leaves the dataset root"],
    }


def test_every_problem_of_every_split_is_reported_with_its_line(tmp_path):
    expected = spoil_nyud(tmp_path)
    Image.fromarray(np.zeros((24, 32), np.uint8) + 200).save(tmp_path / "masks" / "000011.png")
    config = nyud_config(tmp_path)
    splits = {
        "train": list_sample_checks(config.train_list, "train", config, num_classes=5),
        "validation": list_sample_checks(config.val_list, "validation", config, num_classes=5),
    }
    report = check_samples(splits, workers=2, quiet=True)

    assert report.samples == {"train": 12, "validation": 2}
    assert report.files == 3 * (10 + 2)  # the two lines that do not parse read nothing
    train = {int(p.where.rsplit(":", 1)[1]): p.message for p in report.problems if p.split == "train"}
    assert sorted(train) == sorted(expected)
    for line, words in expected.items():
        assert all(word in train[line] for word in words), (line, train[line])
    (validation,) = [p for p in report.problems if p.split == "validation"]
    assert validation.where == f"{tmp_path / 'val.txt'}:2" and "labels [200]" in validation.message
    assert f"{tmp_path / 'train.txt'}:2: cannot read image" in report.text()
    assert "9 problem(s)" in report.summary() and "train 12, validation 2" in report.summary()


def test_the_recipe_rules_decide_as_in_training(tmp_path):
    """A label out of range is fine under out_of_range=ignore; a smaller input fails under align=crop only."""
    for index in range(2):
        write_sample(tmp_path, index, rgb_size=(20, 30) if index else None, labels=np.full((24, 32), 7))
    write_list(tmp_path, "train.txt", range(2))
    strict_checks = list_sample_checks(tmp_path / "train.txt", "train", nyud_config(tmp_path), 5)
    strict = check_samples({"train": strict_checks}, quiet=True)
    assert [p.where.rsplit(":", 1)[1] for p in strict.problems] == ["1", "2"]
    lenient = nyud_config(tmp_path, out_of_range="ignore", align="resize")
    assert check_samples({"train": list_sample_checks(tmp_path / "train.txt", "train", lenient, 5)}, quiet=True).ok


def test_a_missing_list_file_is_one_problem_and_the_other_split_is_still_read(tmp_path):
    for index in range(2):
        write_sample(tmp_path, index)
    write_list(tmp_path, "train.txt", range(2))
    config = nyud_config(tmp_path)
    report = check_samples(
        {
            "train": list_sample_checks(config.train_list, "train", config, 5),
            "validation": list_sample_checks(tmp_path / "nope.txt", "validation", config, 5),
        },
        quiet=True,
    )
    assert report.samples == {"train": 2, "validation": 1}
    (problem,) = report.problems
    assert problem.split == "validation" and "list file not found" in problem.message


def test_a_reader_failing_in_an_unforeseen_way_is_still_a_problem():
    def broken():
        raise MemoryError("no room")

    report = check_samples({"train": [SampleCheck("a.txt:1", 1, broken), DataProblem("train", "a.txt:2", "x")]})
    assert [str(p) for p in report.problems] == ["a.txt:1: MemoryError: no room", "a.txt:2: x"]


def test_translation_samples_are_checked_domain_by_domain(tmp_path):
    for index in range(4):
        write_point(tmp_path, f"point_{index}", seed=index)
    lines = [f"{{domain}}/point_{i}_domain_{{domain}}.png" for i in range(4)] + ["rgb/no_placeholder.png"]
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "edge_texture" / "point_1_domain_edge_texture.png").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint16)).save(tmp_path / "normal" / "point_2_domain_normal.png")
    checks = template_sample_checks(tmp_path / "train.txt", "train", config_for(tmp_path))
    report = check_samples({"train": checks}, quiet=True)
    found = {int(p.where.rsplit(":", 1)[1]): p.message for p in report.problems}
    assert sorted(found) == [2, 3, 5]
    assert "file not found" in found[2] and "edge_texture" in found[2]
    assert "16-bit image but domain 'normal'" in found[3]
    assert "no '{domain}' placeholder" in found[5]
    assert report.files == 4 * len(DOMAINS)


RECIPE = """
from cenkeras.recipes.nyudv2_refinenet101 import recipe as base


def recipe():
    r = base()
    r.model.num_classes = 5
    r.data.align = "reject"
    r.train.freeze_bn = False  # no ImageNet weights here
    return r
"""


def console(*args):
    done = run_cli(*args, timeout=180)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_check_data_command_lists_every_problem_and_exits_1(tmp_path):
    root = tmp_path / "data"
    expected = spoil_nyud(root)
    recipe = tmp_path / "tiny.py"
    recipe.write_text(RECIPE)
    code, out, err = console("check-data", recipe, "--data-dir", root, "--report", tmp_path / "report.txt", "--quiet")
    assert code == 1, err[-2000:]
    for line in expected:
        assert f"{root / 'train.txt'}:{line}: " in out
    assert "8 problem(s)" in out and "Error: 8 problem(s)" in err
    assert (tmp_path / "report.txt").read_text().count("\n") == 8 + 1

    write_list(root, "train.txt", [0, 8, 9])
    code, out, err = console("check-data", recipe, "--data-dir", root, "--quiet")
    assert code == 0 and "Checked 5 samples (train 3, validation 2; 15 files)" in out and "no problems" in out

    code, out, _ = console("check-data", "synthetic_rgbd")
    assert code == 0 and "nothing to check" in out


@pytest.mark.slow
def test_training_with_verify_decode_stops_before_the_run_and_lists_everything(tmp_path):
    root = tmp_path / "data"
    spoil_nyud(root)
    recipe = tmp_path / "tiny.py"
    recipe.write_text(RECIPE)
    run = tmp_path / "run"
    code, out, err = console("train", recipe, "--data-dir", root, "--run-dir", run, "--set", "data.verify=decode")
    assert code == 1, err[-2000:]
    assert "Checked 14 samples (train 12, validation 2; 36 files)" in out
    assert f"8 problem(s) in the data (data.verify=decode), all listed in {run / 'data-check.txt'}" in err
    assert (run / "data-check.txt").read_text().count("\n") == 8 + 1
    assert not (run / "recipe.json").exists()  # nothing of the run: the same command works once fixed
