"""`cenkeras prepare nyudv2`: from the public .mat files to the official layout, and on to a trained model."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cenkeras.data import DataError
from cenkeras.prepare import prepare_nyudv2
from harness import run_cli
from public_files import write_class_mapping40, write_nyu_labeled_mat, write_nyu_splits

# Prepares fabricated public files and trains on them.
pytestmark = pytest.mark.slow

sys.path.insert(0, str(Path(__file__).parents[1] / "tasks"))
from tiny_recipe import write_backbone  # noqa: E402

KILLED_PREPARE = str(Path(__file__).parent / "killed_prepare.py")


@pytest.fixture
def nyu_public(tmp_path):
    """`(folder, files dict, frames, mapping)`: 6 frames 32x48; frames 1, 3, 4 train, 2, 5, 6 test."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    files = {
        "labeled": folder / "nyu_depth_v2_labeled.mat",
        "splits": folder / "splits.mat",
        "mapping": folder / "classMapping40.mat",
    }
    frames = write_nyu_labeled_mat(files["labeled"])
    write_nyu_splits(files["splits"], [1, 3, 4], [2, 5, 6])
    mapping = write_class_mapping40(files["mapping"])
    return folder, files, frames, mapping


def expected_mask(labels, mapping):
    """The 40-class mask of 894-class labels by the rule the test states (not the code's lookup)."""
    mask = np.full(labels.shape, 255, np.uint8)
    for (row, col), label in np.ndenumerate(labels):
        if label and mapping[label - 1] > 0:
            mask[row, col] = mapping[label - 1] - 1
    return mask


def read(path):
    image = Image.open(path)
    return image.mode, np.asarray(image)


def test_frames_masks_depth_and_lists_follow_the_official_layout(nyu_public, tmp_path):
    _, files, (images, depths, raw_depths, labels), mapping = nyu_public
    out = tmp_path / "nyudv2"
    record = prepare_nyudv2(files["labeled"], files["splits"], files["mapping"], out, quiet=True)

    assert (out / "train.txt").read_text().splitlines() == [
        f"rgb/{n:06d}.png\tmasks/{n:06d}.png\tdepth/{n:06d}.png" for n in (1, 3, 4)
    ]
    assert len((out / "val.txt").read_text().splitlines()) == 3
    assert record["counts"] == {"train": 3, "val": 3} and json.loads((out / "prepared.json").read_text())["counts"]
    assert (out / "class_names.txt").read_text().splitlines()[:2] == ["class1", "class2"]
    for number in range(1, 7):
        index = number - 1
        mode, rgb = read(out / "rgb" / f"{number:06d}.png")
        assert mode == "RGB" and rgb.shape == (32, 48, 3)
        np.testing.assert_array_equal(rgb, images[index])  # MATLAB's axes undone: (H, W, 3)
        mode, depth = read(out / "depth" / f"{number:06d}.png")
        assert mode.startswith("I;16")
        # Metres x 5000 (to the nearest unit); the raw depth's holes stay 0.
        np.testing.assert_allclose(depth / 5000.0, raw_depths[index], atol=1.01e-4)
        assert np.all(depth[:10, :12] == 0) and depth[20:, 20:].min() > 0
        mode, mask = read(out / "masks" / f"{number:06d}.png")
        assert mode == "L"
        np.testing.assert_array_equal(mask, expected_mask(labels[index], mapping))
        assert mask.max() == 255 and mask[mask != 255].max() <= 39
        assert np.all(mask[-1] == 255)  # label 0 (unlabelled) is ignored


def test_filled_depth(nyu_public, tmp_path):
    _, files, (_, depths, _, _), _ = nyu_public
    out = tmp_path / "filled"
    prepare_nyudv2(files["labeled"], files["splits"], files["mapping"], out, depth="filled", quiet=True)
    _, depth = read(out / "depth" / "000002.png")
    np.testing.assert_allclose(depth / 5000.0, depths[1], atol=1.01e-4)
    assert depth.min() > 0


def test_the_recipe_reads_the_prepared_folder(nyu_public, tmp_path):
    from cenkeras.data.pipeline import evaluation_dataset, raw_dataset
    from cenkeras.experiments.recipe_files import load_recipe
    from cenkeras.tasks.jobs import resolve_list_paths

    _, files, (images, _, raw_depths, _), _ = nyu_public
    out = tmp_path / "nyudv2"
    prepare_nyudv2(files["labeled"], files["splits"], files["mapping"], out, quiet=True)
    recipe = load_recipe("nyudv2_refinenet101")
    data = resolve_list_paths(recipe.data, out)
    raw, count = raw_dataset("validation", data, recipe.model.num_classes)
    inputs, mask = next(iter(evaluation_dataset(raw, data)))
    assert count == 3 and inputs["rgb"].shape == (1, 32, 48, 3)
    np.testing.assert_allclose(inputs["depth"][0, ..., 0].numpy(), raw_depths[1], atol=1.01e-4)  # frame 2, metres


@pytest.mark.parametrize(
    "damage, message",
    [
        ("no rawDepths", r"nyu_depth_v2_labeled.mat has no field 'rawDepths'"),
        ("labels shape", r"field 'labels' has shape \(6, 40, 32\); the images need \(6, 48, 32\)"),
        ("v5 file", r"nyu_depth_v2_labeled.mat is not a MATLAB v7.3 \(HDF5\) file"),
        ("split beyond", r"splits.mat: field 'testNdxs' has indices 2..9, outside 1..6"),
        ("overlap", r"splits.mat: trainNdxs and testNdxs share frames \[3\]"),
        ("label beyond mapping", r"frame 5 has label 900, beyond the 894 classes of .*classMapping40.mat"),
    ],
)
def test_bad_public_files_are_errors_naming_file_and_field_and_leave_nothing(nyu_public, tmp_path, damage, message):
    import h5py
    import scipy.io

    folder, files, _, _ = nyu_public
    if damage == "no rawDepths":
        with h5py.File(files["labeled"], "r+") as mat:
            del mat["rawDepths"]
    elif damage == "labels shape":
        with h5py.File(files["labeled"], "r+") as mat:
            del mat["labels"]
            mat.create_dataset("labels", data=np.zeros((6, 40, 32), np.uint16))
    elif damage == "v5 file":
        scipy.io.savemat(files["labeled"], {"images": np.zeros((2, 2))})
    elif damage == "split beyond":
        write_nyu_splits(files["splits"], [1], [2, 9])
    elif damage == "overlap":
        write_nyu_splits(files["splits"], [1, 3], [3, 4])
    elif damage == "label beyond mapping":
        with h5py.File(files["labeled"], "r+") as mat:
            labels = mat["labels"][...]
            labels[4, 0, 0] = 900
            mat["labels"][...] = labels
    out = tmp_path / "nyudv2"
    with pytest.raises(DataError, match=message):
        prepare_nyudv2(files["labeled"], files["splits"], files["mapping"], out, quiet=True)
    assert not out.exists() and not (tmp_path / "nyudv2.incomplete").exists()


def test_an_existing_folder_is_never_touched(nyu_public, tmp_path):
    _, files, _, _ = nyu_public
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(DataError, match="already exists"):
        prepare_nyudv2(files["labeled"], files["splits"], files["mapping"], out, quiet=True)
    assert (out / "keep.txt").read_text() == "precious"


def test_a_killed_prepare_leaves_no_folder_that_looks_complete(tmp_path):
    """SIGKILL midway: no --out folder (only OUT.incomplete); the rerun through the CLI replaces it."""
    files = [tmp_path / "labeled.mat", tmp_path / "splits.mat", tmp_path / "mapping.mat"]
    write_nyu_labeled_mat(files[0], count=12)
    write_nyu_splits(files[1], range(1, 7), range(7, 13))
    write_class_mapping40(files[2])
    out = tmp_path / "nyudv2"
    process = subprocess.run(
        [sys.executable, KILLED_PREPARE, *map(str, files), str(out), "5"], capture_output=True, text=True, timeout=300
    )
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    assert not out.exists()
    assert len(list((tmp_path / "nyudv2.incomplete" / "masks").iterdir())) == 5

    done = run_cli(
        "prepare", "nyudv2", "--labeled", files[0], "--splits", files[1], "--mapping", files[2], "--out", out
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Wrote {out} (train 6, val 6)" in done.stdout
    assert len(list((out / "masks").iterdir())) == 12 and not (tmp_path / "nyudv2.incomplete").exists()


def test_cli_errors_are_one_line_with_an_exit_status(nyu_public, tmp_path):
    folder, files, _, _ = nyu_public
    done = run_cli(
        *("prepare", "nyudv2", "--labeled", files["mapping"], "--splits", files["splits"]),
        *("--mapping", files["mapping"], "--out", tmp_path / "o", "--quiet"),
    )
    assert done.returncode == 1
    assert "classMapping40.mat is not a MATLAB v7.3 (HDF5) file" in done.stderr
    assert not (tmp_path / "o").exists()


TINY_NYUD_RECIPE = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from tiny_runs import tiny_segmentation


def recipe():
    r = tiny_segmentation("nyudv2_refinenet101")
    r.name = "tiny_nyudv2"
    r.train.batch_size = 3
    r.train.steps_per_epoch = None
    r.train.freeze_bn = True  # the official setting: with ImageNet-style weights
    return r
"""


def cenkeras(*args, timeout=600):
    done = run_cli(*args, timeout=timeout)
    assert done.returncode == 0, f"cenkeras {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_from_the_public_files_to_predictions_as_a_user_runs_it(nyu_public, tmp_path):
    """prepare -> train (ImageNet-style .safetensors backbone, frozen statistics, the official
    setting) -> eval -> export -> predict, each through the console script."""
    from cenkeras.experiments.recipe_files import load_recipe

    _, files, _, _ = nyu_public
    data = tmp_path / "nyudv2"
    prepared = cenkeras("prepare", "nyudv2", *[f"--{k}={v}" for k, v in files.items()], "--out", data, "--quiet")
    # The next step it prints runs: the official recipe with the ImageNet encoder it needs.
    assert (
        f"cenkeras train nyudv2_refinenet101 --data-dir {data} --set "
        "model.backbone_weights=resnet101.tv_in1k.safetensors" in prepared
    )

    recipe_file = tmp_path / "tiny_nyudv2.py"
    recipe_file.write_text(TINY_NYUD_RECIPE)
    backbone, _ = write_backbone(load_recipe(str(recipe_file)), tmp_path / "resnet.safetensors")
    run = tmp_path / "run"
    without = run_cli("train", recipe_file, "--data-dir", data, "--run-dir", run, "--quiet", timeout=600)
    assert without.returncode == 1 and "--set model.backbone_weights=PATH" in without.stderr
    assert not run.exists()

    output = cenkeras(
        "train",
        recipe_file,
        "--data-dir",
        data,
        "--run-dir",
        run,
        "--quiet",
        "--set",
        f"model.backbone_weights={backbone}",
    )
    assert f"encoder     {backbone}" in output and "Validation of the best checkpoint:" in output
    cenkeras("eval", run, "--quiet")
    scores = json.loads((run / "eval.json").read_text())
    assert scores["samples"] == 3 and scores["upsampling"] == "bicubic"  # the official evaluation's
    # The console's figures are the run's evaluation on the prepared folder, recomputed here.
    from cenkeras.tasks import get_task

    again = get_task("segmentation").evaluate(run, verbose=0, out_file=tmp_path / "again.json")
    for output in ("rgb", "depth", "ensemble"):
        assert scores["scores"][output]["mean_iou"] == again[output]["mean_iou"], output
    served = tmp_path / "served" / "1"
    cenkeras("export", run, "--out", served)
    predictions = tmp_path / "predictions"
    cenkeras(
        "predict", served, "--input", f"rgb={data / 'rgb'}", "--input", f"depth={data / 'depth'}", "--out", predictions
    )
    mode, labels = read(predictions / "000002_labels.png")
    assert labels.shape == (32, 48) and labels.max() < 40
    assert len(list(predictions.glob("*_labels.png"))) == 6
    # prepare's own list, from another folder: each modality's column, paths from the list's folder.
    listed = tmp_path / "listed"
    val = data / "val.txt"
    run_in = tmp_path / "elsewhere"
    run_in.mkdir()
    done = run_cli("predict", served, "--input", f"rgb={val}", "--input", f"depth={val}", "--out", listed, cwd=run_in)
    assert done.returncode == 0, done.stderr[-2000:]
    stems = [Path(line.split()[0]).stem for line in val.read_text().splitlines()]
    assert sorted(p.name for p in listed.glob("*_labels.png")) == sorted(f"{stem}_labels.png" for stem in stems)
    np.testing.assert_array_equal(
        read(listed / f"{stems[0]}_labels.png")[1], read(predictions / f"{stems[0]}_labels.png")[1]
    )


def test_predict_reads_both_list_forms_and_names_a_list_without_the_modalitys_column(tmp_path, monkeypatch):
    from cenkeras.serving.predict import expand_inputs, list_file_paths

    root = tmp_path / "data"
    for folder in ("rgb", "depth"):
        (root / folder).mkdir(parents=True)
        for stem in ("000001", "000002"):
            (root / folder / f"{stem}.png").write_bytes(b"")
    prepared = root / "val.txt"
    prepared.write_text(
        "rgb/000001.png\tmasks/000001.png\tdepth/000001.png\nrgb/000002.png masks/000002.png depth/000002.png\n"
    )
    monkeypatch.chdir(tmp_path)
    assert list_file_paths(prepared, "depth") == [root / "depth" / "000001.png", root / "depth" / "000002.png"]
    plain = tmp_path / "lists" / "rgb_list.txt"
    plain.parent.mkdir()
    plain.write_text("data/rgb/000002.png\n")  # relative to the current folder: not beside the list
    assert list_file_paths(plain, "rgb") == [Path("data/rgb/000002.png")]
    samples = expand_inputs({"rgb": prepared, "depth": prepared})
    assert samples[1] == {"rgb": root / "rgb" / "000002.png", "depth": root / "depth" / "000002.png"}
    with pytest.raises(
        DataError, match=r"has 3 columns, whose folders are \['rgb', 'masks', 'depth'\]; none is 'thermal'"
    ):
        list_file_paths(prepared, "thermal")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(DataError, match="lists no image"):
        list_file_paths(tmp_path / "empty.txt", "rgb")
