"""Tiny fabricated copies of the public dataset files, in their exact formats (names, dtypes, axes)."""

import numpy as np

MATLAB_V73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Nov 30 12:00:00 2026 HDF5 schema 1.00 ."


def write_nyu_labeled_mat(path, count=6, height=32, width=48, max_label=894, seed=0):
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it: HDF5 behind a 512-byte header, axes reversed.

    Returns the frames in (H, W) order: (images, depths, raw_depths, labels).
    """
    import h5py

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)
    depths = rng.uniform(0.7, 9.9, (count, height, width)).astype(np.float32)
    raw_depths = depths.copy()
    raw_depths[:, : height // 3, : width // 4] = 0  # holes of the raw Kinect depth
    labels = rng.integers(0, max_label + 1, (count, height, width)).astype(np.uint16)
    labels[:, -1, :] = 0  # unlabelled pixels
    with h5py.File(path, "w", userblock_size=512) as mat:
        mat.create_dataset("images", data=np.transpose(images, (0, 3, 2, 1)))  # (N, 3, W, H)
        mat.create_dataset("depths", data=np.transpose(depths, (0, 2, 1)))  # (N, W, H)
        mat.create_dataset("rawDepths", data=np.transpose(raw_depths, (0, 2, 1)))
        mat.create_dataset("labels", data=np.transpose(labels, (0, 2, 1)))
        mat.create_dataset("names", data=np.zeros((1, 894), np.uint64))  # refs in the real file
    with open(path, "r+b") as stream:
        # 116 bytes of text, 8 of subsystem offset, version 0x0200 (7.3) and the endian mark "IM".
        stream.write(MATLAB_V73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    return images, depths, raw_depths, labels


def write_nyu_splits(path, train, test):
    """splits.mat (MATLAB v5): 1-based frame numbers as column vectors of doubles."""
    import scipy.io

    scipy.io.savemat(
        path, {"trainNdxs": np.asarray(train, float).reshape(-1, 1), "testNdxs": np.asarray(test, float).reshape(-1, 1)}
    )


def write_class_mapping40(path, seed=0):
    """classMapping40.mat (v5): `mapClass` (1 x 894, values 1..40, a few 0) and `className` (1 x 40 cells)."""
    import scipy.io

    mapping = np.random.default_rng(seed).integers(1, 41, 894).astype(float)
    mapping[5] = 0  # a class the 40-class set leaves out: unlabelled
    names = np.empty((1, 40), dtype=object)
    for index in range(40):
        names[0, index] = f"class{index + 1}"
    scipy.io.savemat(path, {"mapClass": mapping.reshape(1, -1), "className": names})
    return mapping.astype(int)


def sunrgbd_stored_depth(millimetres):
    """SUN RGB-D's depth PNG values: millimetres rotated left by 3 bits (16-bit)."""
    mm = np.asarray(millimetres, np.uint32)
    return (((mm << 3) | (mm >> 13)) & 0xFFFF).astype(np.uint16)


def write_sunrgbd(root, train=3, test=2, size=(24, 40), seed=0):
    """An unzipped SUNRGBD/ tree (kv1 NYU-style and kv2-style frame folders), the two meta-data image
    lists and the unpacked label folder (test frames first). Returns the frames in label-file order:
    `[(image, millimetres_filled, millimetres_raw, labels)]`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = size
    frames, paths = [], []
    for index in range(train + test):
        if index % 2:
            frame = root / "SUNRGBD" / "kv1" / "NYUdata" / f"NYU{index:04d}"
            name = f"NYU{index:04d}"
        else:
            frame = root / "SUNRGBD" / "kv2" / "kinect2data" / f"{index:06d}_2014-05-16_20-14-38_rgbf000121-resize"
            name = "0000121"
        for folder in ("image", "depth", "depth_bfx"):
            (frame / folder).mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        filled = rng.integers(500, 9000, (height, width)).astype(np.uint32)  # up to 9 m: the rotation wraps
        raw = filled.copy()
        raw[:4, :6] = 0
        labels = rng.integers(0, 38, (height, width)).astype(np.uint8)
        Image.fromarray(image).save(frame / "image" / f"{name}.jpg", quality=95)
        Image.fromarray(sunrgbd_stored_depth(filled)).save(frame / "depth_bfx" / f"{name}.png")
        Image.fromarray(sunrgbd_stored_depth(raw)).save(frame / "depth" / f"{name}.png")
        paths.append(str((frame / "image" / f"{name}.jpg").relative_to(root)))
        frames.append((image, filled, raw, labels))
    # Label files: the test frames (the last `test` written) first, then the training frames.
    order = list(range(train, train + test)) + list(range(train))
    (root / "labels").mkdir()
    for number, index in enumerate(order, start=1):
        Image.fromarray(frames[index][3]).save(root / "labels" / f"img-{number:06d}.png")
    (root / "sunrgbd_training_images.txt").write_text("\n".join(paths[:train]) + "\n")
    (root / "sunrgbd_testing_images.txt").write_text("\n".join(paths[train:]) + "\n")
    return [frames[index] for index in order]


def write_taskonomy(
    root, buildings=("allensville", "beechwood"), views=4, domains=("reshading", "edge_texture", "rgb")
):
    """A Taskonomy tree `{building}/{domain}/point_P_view_V_domain_{domain}.png`; the last view of each
    building lacks its `rgb` file (it must be dropped). Returns the number of complete views per building."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for building in buildings:
        for domain in domains:
            (root / building / domain).mkdir(parents=True)
            for view in range(views):
                if domain == "rgb" and view == views - 1:
                    continue
                name = f"point_{view * 7}_view_{view % 3}_domain_{domain}.png"
                if domain == "edge_texture":
                    pixels = rng.integers(0, 11355, (40, 40)).astype(np.uint16)
                elif domain == "reshading":
                    pixels = rng.integers(0, 256, (40, 40), dtype=np.uint8)
                else:
                    pixels = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / building / domain / name)
    return views - 1


def write_mfnet(root, splits=None, size=(24, 40), seed=0):
    """The MFNet download: images/NAME.png (RGBA = R, G, B, thermal), labels/NAME.png (0..8), split lists."""
    from PIL import Image

    splits = splits or {"train": ["00001D", "00002N", "00003D"], "val": ["00004N"], "test": ["00005D", "00006N"]}
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    frames = {}
    for names in splits.values():
        for name in names:
            rgbt = rng.integers(0, 256, (*size, 4), dtype=np.uint8)
            labels = rng.integers(0, 9, size, dtype=np.uint8)
            Image.fromarray(rgbt, mode="RGBA").save(root / "images" / f"{name}.png")
            Image.fromarray(labels).save(root / "labels" / f"{name}.png")
            frames[name] = (rgbt, labels)
    for split, names in splits.items():
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
    return frames
