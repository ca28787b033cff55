"""`cenkeras prepare DATASET`: public downloads -> the folder layout the recipes train on."""

import click

from cenkeras.cli.errors import friendly_errors

EXISTING_FILE = click.Path(exists=True, dir_okay=False)
EXISTING_FOLDER = click.Path(exists=True, file_okay=False)
# Options every dataset takes.
out_option = click.option("--out", required=True, type=click.Path(file_okay=False), help="The folder to create.")
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")


@click.group()
def prepare():
    """Convert a dataset's public download into the layout the recipes read.

    The result appears at --out only when complete (a killed prepare leaves
    OUT.incomplete, which a rerun replaces); an existing --out is never touched.
    """


def _report(record, out, recipe):
    counts = ", ".join(f"{name} {count}" for name, count in record["counts"].items())
    click.echo(f"Wrote {out} ({counts}). Train on it:\n  {next_step(recipe, out)}")


def next_step(recipe_name, out):
    """The `cenkeras train` command that runs on the prepared folder: with the ImageNet encoder a
    recipe that freezes its BatchNorm statistics needs (`train.freeze_bn` refuses to start without)."""
    from cenkeras.experiments.recipe_files import load_recipe

    recipe = load_recipe(recipe_name)
    command = f"cenkeras train {recipe_name} --data-dir {out}"
    if getattr(recipe.train, "freeze_bn", False) and not recipe.model.backbone_weights:
        weights = f"resnet{recipe.model.depth}.tv_in1k.safetensors"
        command += f" --set model.backbone_weights={weights}  (torchvision's ImageNet ResNet-{recipe.model.depth})"
    return command


@prepare.command("nyudv2")
@click.option("--labeled", required=True, type=EXISTING_FILE, help="nyu_depth_v2_labeled.mat (MATLAB v7.3).")
@click.option("--splits", required=True, type=EXISTING_FILE, help="splits.mat (trainNdxs / testNdxs).")
@click.option("--mapping", required=True, type=EXISTING_FILE, help="classMapping40.mat (894 -> 40 classes).")
@out_option
@click.option(
    "--depth",
    type=click.Choice(["raw", "filled"]),
    default="raw",
    show_default=True,
    help="rawDepths (holes kept, as the official data) or the in-painted depths.",
)
@quiet_option
@friendly_errors
def nyudv2(labeled, splits, mapping, out, depth, quiet):
    """NYUDv2, 40 classes, the standard 795 / 654 split."""
    from cenkeras.prepare import prepare_nyudv2

    record = prepare_nyudv2(labeled, splits, mapping, out, depth=depth, quiet=quiet)
    _report(record, out, "nyudv2_refinenet101")


@prepare.command("sunrgbd")
@click.option("--root", required=True, type=EXISTING_FOLDER, help="Folder holding the SUNRGBD/ tree.")
@click.option("--train-images", required=True, type=EXISTING_FILE, help="sunrgbd_training_images.txt (5,285 lines).")
@click.option("--test-images", required=True, type=EXISTING_FILE, help="sunrgbd_testing_images.txt (5,050 lines).")
@click.option(
    "--labels",
    required=True,
    type=EXISTING_FOLDER,
    help="Unpacked sunrgbd_test_train_labels.tar.gz (img-NNNNNN.png).",
)
@out_option
@click.option(
    "--depth",
    type=click.Choice(["filled", "raw"]),
    default="filled",
    show_default=True,
    help="depth_bfx (in-painted) or depth (with holes).",
)
@quiet_option
@friendly_errors
def sunrgbd(root, train_images, test_images, labels, out, depth, quiet):
    """SUN RGB-D, 37 classes, the standard 5,285 / 5,050 split."""
    from cenkeras.prepare import prepare_sunrgbd

    record = prepare_sunrgbd(root, train_images, test_images, labels, out, depth=depth, quiet=quiet)
    _report(record, out, "sunrgbd_refinenet101")


@prepare.command("taskonomy")
@click.option("--root", required=True, type=EXISTING_FOLDER, help="The downloaded Taskonomy tree.")
@click.option("--domains", required=True, help="Comma-separated, the target last (e.g. reshading,edge_texture,rgb).")
@out_option
@click.option("--val-buildings", default="", help="Comma-separated buildings for validation (else a fraction).")
@click.option("--val-fraction", default=0.1, show_default=True, type=float, help="Share of views for validation.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fraction split.")
@click.option(
    "--train-list",
    type=click.Path(exists=True, dir_okay=False),
    help="The paper's split: the official code's image2image_translation/data/train_domain.txt "
    "(1,000 views; with --val-list). --root is then the folder its paths start from.",
)
@click.option(
    "--val-list",
    type=click.Path(exists=True, dir_okay=False),
    help="The official val_domain.txt (500 views), with --train-list.",
)
@friendly_errors
def taskonomy(root, domains, out, val_buildings, val_fraction, seed, train_list, val_list):
    """Taskonomy list files (views present in every domain); images stay where they are.

    A reproduced Table 4 or 5 needs the paper's split: pass the official lists
    (--train-list, --val-list). Without them the views present in every domain
    are split by building (--val-buildings) or by a seeded fraction.
    """
    from cenkeras.prepare import prepare_taskonomy

    buildings = [b for b in val_buildings.split(",") if b]
    names = [d.strip() for d in domains.split(",") if d.strip()]
    record = prepare_taskonomy(
        root,
        names,
        out,
        val_buildings=buildings,
        val_fraction=val_fraction,
        seed=seed,
        train_list=train_list,
        val_list=val_list,
    )
    if not train_list:
        click.echo(
            "Note: this split is not the paper's (the official 1,000 training / 500 validation views); "
            "FID and KID depend on it, so a reproduced Table 4 or 5 needs --train-list and --val-list."
        )
    _report(record, out, "taskonomy_shade_texture_to_rgb")


@prepare.command("mfnet")
@click.option(
    "--root",
    required=True,
    type=EXISTING_FOLDER,
    help="The MFNet folder (images/, labels/, train.txt, val.txt, test.txt).",
)
@out_option
@quiet_option
@friendly_errors
def mfnet(root, out, quiet):
    """MFNet RGB-thermal, 9 classes; the 4-channel frames read as two modalities."""
    from cenkeras.prepare import prepare_mfnet

    _report(prepare_mfnet(root, out, quiet=quiet), out, "mfnet_rgbt_refinenet101")
