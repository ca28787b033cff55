"""Fine-tune a CEN segmenter on a folder of your own RGB-X data (here RGB + thermal).

The folder holds aligned images per frame, a label mask, and one list file
per split whose lines name each frame's files relative to the folder:

    rgb/000001.png masks/000001.png thermal/000001.png

plus, optionally, `class_names.txt` (one name per line: tables and prediction
legends use it). The recipe starts from the official NYUDv2 RefineNet-101
settings and changes what differs: the modalities, their columns, the number
of classes. With `--backbone` (a torchvision ImageNet ResNet, .safetensors,
.pth or .npz) the encoder starts from it and keeps its BatchNorm statistics,
as the official fine-tuning does.

    python examples/finetune_rgbx_folder.py --data /data/my_rgbt --classes 9 --backbone resnet101.tv_in1k.safetensors
    python examples/finetune_rgbx_folder.py --make-demo-folder /tmp/rgbt   # writes a small folder first
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from cenkeras.config import ModalityConfig
from cenkeras.data.synthetic import CLASS_NAMES, render_scene
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.tasks import get_task
from cenkeras.training.runs import RunDirectory


def make_demo_folder(folder, frames=24, size=(64, 96)):
    """A small RGB-thermal folder in the layout above, rendered from cenkeras' synthetic scenes:
    the thermal image is an 8-bit picture of the scene's distance (near is warm)."""
    folder = Path(folder)
    for name in ("rgb", "thermal", "masks"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(frames):
        scene = render_scene(seed=1000 + index, height=size[0], width=size[1])
        depth = scene["depth"].astype(np.float64)
        warm = np.where(depth > 0, 255 - np.clip(depth / depth.max() * 255, 0, 255), 0).astype(np.uint8)
        stem = f"{index + 1:06d}"
        Image.fromarray(scene["rgb"]).save(folder / "rgb" / f"{stem}.png")
        Image.fromarray(warm).save(folder / "thermal" / f"{stem}.png")
        Image.fromarray(scene["mask"]).save(folder / "masks" / f"{stem}.png")
        lines.append(f"rgb/{stem}.png masks/{stem}.png thermal/{stem}.png\n")
    split = frames * 3 // 4
    (folder / "train.txt").write_text("".join(lines[:split]))
    (folder / "val.txt").write_text("".join(lines[split:]))
    (folder / "class_names.txt").write_text("".join(f"{name}\n" for name in CLASS_NAMES))
    return folder


def rgbx_recipe(classes, backbone=None, epochs=(20, 10), tiny=False):
    """The official NYUDv2 settings, read from an RGB + thermal list folder."""
    recipe = load_recipe("nyudv2_refinenet101")
    recipe.name = "rgbt_finetune"
    recipe.model.num_classes = classes
    recipe.data.train_list, recipe.data.val_list = "train.txt", "val.txt"
    recipe.data.mask_column = 1
    recipe.data.modalities = {
        "rgb": ModalityConfig(kind="rgb", column=0),
        "thermal": ModalityConfig(kind="gray", column=2),
    }
    recipe.train.epochs = tuple(epochs)
    recipe.train.lr_encoder = recipe.train.lr_encoder[: len(epochs)]
    recipe.train.lr_decoder = recipe.train.lr_decoder[: len(epochs)]
    recipe.train.val_every = 1
    if backbone:
        recipe.model.backbone_weights = str(backbone)  # ImageNet encoder, frozen BN statistics
    else:
        recipe.train.freeze_bn = False  # from scratch: nothing to freeze
    if tiny:  # a network and crops small enough for a CPU in seconds (the tests run it so)
        recipe.model.depth, recipe.model.stage_blocks = 50, (1, 1, 1, 1)
        recipe.model.base_width, recipe.model.decoder_width = 8, 16
        recipe.data.shorter_side, recipe.data.crop_size = 48, 48
        recipe.train.batch_size, recipe.eval.batch_size = 4, 4
        recipe.train.lr_encoder = recipe.train.lr_decoder = (1e-2,) * len(epochs)
        recipe.train.precision = "float32"
    return recipe


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the folder (train.txt, val.txt, images, masks)")
    parser.add_argument("--make-demo-folder", metavar="DIR", help="write a small RGB-thermal folder there and use it")
    parser.add_argument("--classes", type=int, default=len(CLASS_NAMES))
    parser.add_argument("--backbone", help="torchvision ImageNet ResNet (.safetensors, .pth or .npz)")
    parser.add_argument("--run-dir", default="runs/rgbt_finetune")
    parser.add_argument("--epochs", type=int, nargs="+", default=[20, 10], help="epochs per stage")
    parser.add_argument("--tiny", action="store_true", help="a tiny network (a quick try on a CPU)")
    args = parser.parse_args(argv)
    if not args.data and not args.make_demo_folder:
        parser.error("give --data DIR, or --make-demo-folder DIR to write a small folder first")
    data = make_demo_folder(args.make_demo_folder) if args.make_demo_folder else Path(args.data)

    task = get_task("segmentation")
    recipe = rgbx_recipe(args.classes, args.backbone, args.epochs, args.tiny)
    report = task.check_data(recipe, data_dir=str(data), quiet=True)  # every bad file at once, before training
    if report is not None and report.problems:
        raise SystemExit(f"{len(report.problems)} problem(s) in {data}, the first: {report.problems[0]}")
    task.train(recipe, args.run_dir, data_dir=str(data), verbose=1)
    scores = task.evaluate(args.run_dir, verbose=0)  # the best checkpoint, on val.txt
    print(task.format_results(RunDirectory(args.run_dir).load_recipe(), scores))
    return scores


if __name__ == "__main__":
    main()
