"""`cenkeras prepare sunrgbd | taskonomy | mfnet`: files in their public formats -> the layout -> one training step."""

import json

import numpy as np
import pytest
from PIL import Image

from cenkeras.data import DataError
from cenkeras.prepare import prepare_mfnet, prepare_sunrgbd, prepare_taskonomy
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.tasks import get_task
from harness import run_cli
from public_files import write_mfnet, write_sunrgbd, write_taskonomy
from tiny_runs import tiny_segmentation

# Prepares fabricated public files and trains on them.
pytestmark = pytest.mark.slow


def trains_one_step(recipe, data_dir, run_dir):
    network, history = get_task(recipe.task).train(recipe, run_dir, data_dir=data_dir, verbose=0)
    losses = {key: values for key, values in history.history.items() if key.endswith("loss")}
    assert losses and all(np.isfinite(values).all() for values in losses.values()), history.history
    return network


def read(path):
    return np.asarray(Image.open(path))


# --- SUN RGB-D --------------------------------------------------------------------------------


def sunrgbd_args(root):
    return (
        root,
        root / "sunrgbd_training_images.txt",
        root / "sunrgbd_testing_images.txt",
        root / "labels",
    )


def test_sunrgbd_prepares_from_the_meta_data_release_and_trains(tmp_path):
    root = tmp_path / "downloads"
    frames = write_sunrgbd(root)
    out = tmp_path / "sunrgbd"
    record = prepare_sunrgbd(*sunrgbd_args(root), out, quiet=True)
    assert record["counts"] == {"train": 3, "test": 2}
    train_lines = (out / "train.txt").read_text().splitlines()
    assert train_lines[0] == "rgb/000003.jpg masks/000003.png depth/000003.png" and len(train_lines) == 3
    assert (out / "test.txt").read_text().splitlines()[1] == "rgb/000002.jpg masks/000002.png depth/000002.png"
    for number, (_, filled, _, labels) in enumerate(frames, start=1):
        mask = read(out / "masks" / f"{number:06d}.png")
        np.testing.assert_array_equal(mask, np.where(labels == 0, 255, labels.astype(int) - 1))
        assert mask[mask != 255].max() <= 36
        depth = read(out / "depth" / f"{number:06d}.png")
        np.testing.assert_array_equal(depth, filled * 5)  # millimetres (bits unrotated) -> metres x 5000
    raw_out = tmp_path / "sunrgbd_raw"
    # The raw depth through the console script, as a user runs it.
    source, train_images, test_images, labels = sunrgbd_args(root)
    done = run_cli(
        *("prepare", "sunrgbd", "--root", source, "--train-images", train_images, "--test-images", test_images),
        *("--labels", labels, "--out", raw_out, "--depth", "raw"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.all(read(raw_out / "depth" / "000001.png")[:4, :6] == 0)
    assert f"cenkeras train sunrgbd_refinenet101 --data-dir {raw_out}" in done.stdout  # the next step
    assert (raw_out / "class_names.txt").read_text().splitlines()[:2] == ["wall", "floor"]
    assert len((out / "class_names.txt").read_text().splitlines()) == 37

    recipe = tiny_segmentation("sunrgbd_refinenet101")
    assert recipe.model.num_classes == 37 and recipe.data.val_list == "test.txt"
    trains_one_step(recipe, out, tmp_path / "run")


def test_sunrgbd_label_lists_that_do_not_match_the_images_are_an_error(tmp_path):
    root = tmp_path / "downloads"
    write_sunrgbd(root)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "labels" / "img-000004.png")
    with pytest.raises(DataError, match=r"img-000004.png is 10x10 but its image .*\.jpg is 40x24"):
        prepare_sunrgbd(*sunrgbd_args(root), tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


# --- Taskonomy --------------------------------------------------------------------------------


def test_taskonomy_lists_keep_views_present_in_every_domain_and_split_by_building(tmp_path):
    tree = tmp_path / "taskonomy"
    complete = write_taskonomy(tree)
    domains = ["reshading", "edge_texture", "rgb"]
    out = tmp_path / "lists"
    record = prepare_taskonomy(tree, domains, out, val_buildings=["beechwood"])
    assert record["counts"] == {"train": complete, "val": complete}
    assert record["views_missing_a_domain"] == {
        "allensville/reshading": 1,
        "allensville/edge_texture": 1,
        "beechwood/reshading": 1,
        "beechwood/edge_texture": 1,
    }
    train = (out / "train_domain.txt").read_text().splitlines()
    assert train[0] == "images/allensville/{domain}/point_0_view_0_domain_{domain}.png"
    assert all("beechwood" in line for line in (out / "val_domain.txt").read_text().splitlines())
    assert (out / "images").resolve() == tree.resolve()

    by_fraction = prepare_taskonomy(tree, domains, tmp_path / "fraction", val_fraction=0.5, seed=3)
    assert by_fraction["counts"] == {"train": complete, "val": complete}
    again = prepare_taskonomy(tree, domains, tmp_path / "again", val_fraction=0.5, seed=3)
    assert (tmp_path / "again" / "val_domain.txt").read_text() == (tmp_path / "fraction" / "val_domain.txt").read_text()
    assert again["counts"] == by_fraction["counts"]

    with pytest.raises(DataError, match=r"--val-buildings \['nowhere'\] are not buildings"):
        prepare_taskonomy(tree, domains, tmp_path / "bad", val_buildings=["nowhere"])

    recipe = load_recipe("taskonomy_shade_texture_to_rgb")
    recipe.data.resize, recipe.data.crop_size = 36, 32
    recipe.model.levels, recipe.model.filters, recipe.model.discriminator_filters = 5, 4, 4
    recipe.train.epochs, recipe.train.steps_per_epoch, recipe.train.val_every = 1, 1, 1
    recipe.train.precision = "float32"
    assert list(recipe.data.domains) == domains
    trains_one_step(recipe, out, tmp_path / "run")


def test_prepare_taskonomy_takes_the_papers_split_from_the_official_lists(tmp_path):
    """`--train-list` / `--val-list` (the official train_domain.txt / val_domain.txt, paths from the
    official data folder): written in our layout as listed; a listed view missing in a domain, a
    malformed line, a view in both lists or one list alone is a one-line error. Through the console script."""
    tree = tmp_path / "taskonomy"
    write_taskonomy(tree, buildings=("allensville",))
    root = tree / "allensville"  # the official data folder: the domain folders at its top

    def official_list(name, views):
        path = tmp_path / name
        path.write_text("".join(f"{{domain}}/point_{v * 7}_view_{v % 3}_domain_{{domain}}.png\n" for v in views))
        return path

    train, val = official_list("train_domain.txt", [2, 0]), official_list("val_domain.txt", [1])
    domains = "reshading,edge_texture,rgb"

    def prepare(out, *lists):
        return run_cli("prepare", "taskonomy", "--root", root, "--domains", domains, "--out", tmp_path / out, *lists)

    done = prepare("official", "--train-list", train, "--val-list", val)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train 2, val 1" in done.stdout and "not the paper's" not in done.stdout
    written = (tmp_path / "official" / "train_domain.txt").read_text().splitlines()
    assert written == [
        "images/{domain}/point_14_view_2_domain_{domain}.png",  # in the list's order
        "images/{domain}/point_0_view_0_domain_{domain}.png",
    ]
    record = json.loads((tmp_path / "official" / "prepared.json").read_text())
    assert record["split"] == {"official_lists": {"train": str(train.resolve()), "val": str(val.resolve())}}

    done = prepare("fraction")
    assert done.returncode == 0 and "this split is not the paper's" in done.stdout

    lacking_rgb = official_list("lacking.txt", [0, 3])  # view 3 has no rgb file
    failures = {
        "lacking": (("--train-list", lacking_rgb, "--val-list", val), "1 listed files are not in"),
        "malformed": (("--train-list", official_list("bad.txt", []), "--val-list", val), "lists no view"),
        "both": (
            ("--train-list", train, "--val-list", official_list("both.txt", [0])),
            "listed for training and validation",
        ),
        "alone": (("--train-list", train), "--train-list and --val-list come together"),
    }
    (tmp_path / "bad.txt").write_text("rgb/point_0_view_0_domain_rgb.png\n")
    failures["malformed"] = (failures["malformed"][0], "is not an official list line")
    for out, (lists, message) in failures.items():
        done = prepare(out, *lists)
        assert done.returncode == 1 and message in done.stderr, (out, done.stderr[-1000:])
        assert not (tmp_path / out).exists()
    assert "point_21_view_0_domain_rgb.png" in prepare("lacking", *failures["lacking"][0]).stderr


# --- MFNet ------------------------------------------------------------------------------------


def test_mfnet_reads_one_four_channel_file_as_rgb_and_thermal_and_trains(tmp_path):
    from cenkeras.data.pipeline import evaluation_dataset, raw_dataset
    from cenkeras.tasks.jobs import resolve_list_paths

    root = tmp_path / "ir_seg_dataset"
    frames = write_mfnet(root)
    out = tmp_path / "mfnet"
    record = prepare_mfnet(root, out, quiet=True)
    assert record["counts"] == {"train": 3, "val": 1, "test": 2}
    assert (out / "test.txt").read_text().splitlines() == [
        "rgbt/00005D.png masks/00005D.png rgbt/00005D.png",
        "rgbt/00006N.png masks/00006N.png rgbt/00006N.png",
    ]
    np.testing.assert_array_equal(read(out / "masks" / "00002N.png"), frames["00002N"][1])

    recipe = tiny_segmentation("mfnet_rgbt_refinenet101")
    data = resolve_list_paths(recipe.data, out)
    inputs, mask = next(iter(evaluation_dataset(raw_dataset("validation", data, 9)[0], data)))
    rgbt = frames["00005D"][0]
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(inputs["rgb"][0].numpy(), (rgbt[..., :3] / 255 - mean) / std, atol=1e-5)
    thermal = np.repeat(rgbt[..., 3:] / 255.0, 3, axis=-1)
    np.testing.assert_allclose(inputs["thermal"][0].numpy(), (thermal - 0.5) / 0.25, atol=1e-5)
    np.testing.assert_array_equal(mask[0].numpy(), frames["00005D"][1])
    trains_one_step(recipe, out, tmp_path / "run")


def test_mfnet_three_channel_frames_and_bad_labels_are_errors_through_the_cli(tmp_path):
    root = tmp_path / "ir_seg_dataset"
    frames = write_mfnet(root)
    Image.fromarray(frames["00003D"][0][..., :3]).save(root / "images" / "00003D.png")
    done = run_cli("prepare", "mfnet", "--root", root, "--out", tmp_path / "out", "--quiet")
    assert done.returncode == 1
    assert "00003D.png has mode RGB; MFNet frames are 4-channel PNGs" in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.incomplete").exists()

    Image.fromarray(frames["00003D"][0], mode="RGBA").save(root / "images" / "00003D.png")
    Image.fromarray(np.full((24, 40), 9, np.uint8)).save(root / "labels" / "00001D.png")
    with pytest.raises(DataError, match=r"00001D.png has label 9; MFNet labels are 0..8"):
        prepare_mfnet(root, tmp_path / "out", quiet=True)
