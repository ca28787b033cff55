"""Small datasets in the official NYUDv2 layout, written by the tests."""

import numpy as np
from PIL import Image

from cenkeras.config import DataConfig, ModalityConfig


def write_sample(root, index, size=(24, 32), depth_size=None, rgb_size=None, labels=None, seed=0):
    """rgb/N.png (8-bit), depth/N.png (16-bit, metres x 5000, with holes), masks/N.png."""
    rng = np.random.default_rng(seed + index)
    height, width = size
    rh, rw = rgb_size or size
    dh, dw = depth_size or size
    for folder in ("rgb", "depth", "masks"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 256, (rh, rw, 3), dtype=np.uint8)
    depth = rng.integers(2000, 40000, (dh, dw), dtype=np.uint16)
    depth[: dh // 4, : dw // 4] = 0  # a hole: no depth reading
    mask = labels if labels is not None else rng.integers(0, 5, (height, width), dtype=np.uint8)
    mask = np.array(mask, dtype=np.uint8)
    mask[0, 0] = 255
    Image.fromarray(rgb).save(root / "rgb" / f"{index:06d}.png")
    Image.fromarray(depth).save(root / "depth" / f"{index:06d}.png")
    Image.fromarray(mask).save(root / "masks" / f"{index:06d}.png")
    return rgb, depth, mask


def write_list(root, name, indices, separator="\t"):
    lines = [separator.join([f"rgb/{i:06d}.png", f"masks/{i:06d}.png", f"depth/{i:06d}.png"]) for i in indices]
    path = root / name
    path.write_text("\n".join(lines) + "\n")
    return path


def nyud_config(root, **overrides):
    config = DataConfig(
        source="list",
        root=str(root),
        train_list=str(root / "train.txt"),
        val_list=str(root / "val.txt"),
        modalities={
            "rgb": ModalityConfig(kind="rgb", column=0),
            "depth": ModalityConfig(kind="depth", column=2),
        },
        mask_column=1,
        crop_size=16,
        shorter_side=20,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config
