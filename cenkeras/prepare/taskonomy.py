"""Taskonomy list files from a downloaded folder tree (the `taskonomy_*` recipes read them).

A Taskonomy download holds one folder per domain, `{domain}/point_{P}_view_{V}_domain_{domain}.png`,
either at the top of the tree (one building) or under one folder per
building (`{building}/{domain}/...`). A view is kept only when every
requested domain has it. Validation views are whole buildings
(`val_buildings`) or a seeded fraction of the views.

The paper's split is another: a fixed 1,000 training and 500 validation
views, listed in the official code's `image2image_translation/data/
train_domain.txt` and `val_domain.txt`. FID and KID depend on the size and
content of the set, so a reproduced Table 4 or 5 must use those lists:
`train_list` / `val_list` take them (the tree is then the folder their
paths start from), and every listed view must be there in every domain.

Written: `train_domain.txt` and `val_domain.txt` (lines such as
`images/{domain}/point_407_view_2_domain_{domain}.png`, the official list
format), `images` (a link to the tree: nothing is copied) and `prepared.json`.
"""

import os
import re
from pathlib import Path

import numpy as np

from cenkeras.data.modalities import DataError
from cenkeras.prepare.output import PreparedFolder

VIEW_FILE = re.compile(r"^point_(\d+)_view_(\d+)_domain_(.+)\.png$")


def domain_views(folder, domain):
    """`{(point, view)}` of the files of `domain` in `folder/domain`."""
    views = set()
    directory = folder / domain
    if not directory.is_dir():
        return views
    for entry in os.scandir(directory):
        match = VIEW_FILE.match(entry.name)
        if match and match.group(3) == domain:
            views.add((int(match.group(1)), int(match.group(2))))
    return views


def buildings_of(root, domains):
    """`{building: folder}`: the tree itself ("") when it holds the domain folders, else its subfolders."""
    if any((root / domain).is_dir() for domain in domains):
        return {"": root}
    found = {p.name: p for p in sorted(root.iterdir()) if p.is_dir() and any((p / d).is_dir() for d in domains)}
    if not found:
        raise DataError(f"{root} holds no folder named after a domain {list(domains)}, nor buildings holding them.")
    return found


def read_official_list(path, root, domains):
    """The views of an official list file (`{domain}/point_P_view_V_domain_{domain}.png` lines,
    relative to `root`), each checked to exist in every one of `domains`; a DataError names the
    first line that is not such a view and the files that are missing."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"the list file does not exist: {path}")
    views, missing = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = VIEW_FILE.match(Path(line).name)
        if "{domain}" not in line or not match or match.group(3) != "{domain}":
            raise DataError(
                f"{path}, line {number}: {line!r} is not an official list line "
                "({domain}/point_P_view_V_domain_{domain}.png)."
            )
        views.append(line)
        missing += [
            str(root / line.replace("{domain}", d))
            for d in domains
            if not (root / line.replace("{domain}", d)).is_file()
        ]
    if not views:
        raise DataError(f"{path} lists no view.")
    if len(set(views)) != len(views):
        raise DataError(f"{path} lists {len(views) - len(set(views))} views twice.")
    if missing:
        raise DataError(
            f"{path}: {len(missing)} listed files are not in {root}, e.g. {missing[:3]}; the paper's split needs "
            "every listed view in every domain (is --root the folder the list's paths start from?)."
        )
    return views


def prepare_official_split(root, domains, out, train_list, val_list):
    """Write the official code's split (its `train_domain.txt` / `val_domain.txt`) in our layout."""
    train = read_official_list(train_list, root, domains)
    val = read_official_list(val_list, root, domains)
    shared = sorted(set(train) & set(val))
    if shared:
        raise DataError(f"{len(shared)} views are listed for training and validation, e.g. {shared[0]}.")
    with PreparedFolder(out, "taskonomy") as folder:
        os.symlink(root, folder.work / "images", target_is_directory=True)
        folder.write_list("train_domain.txt", [f"images/{line}" for line in train])
        folder.write_list("val_domain.txt", [f"images/{line}" for line in val])
        return folder.finish(
            {"train": len(train), "val": len(val)},
            tree=str(root),
            domains=domains,
            split={"official_lists": {"train": str(Path(train_list).resolve()), "val": str(Path(val_list).resolve())}},
        )


def prepare_taskonomy(root, domains, out, val_buildings=(), val_fraction=0.1, seed=0, train_list=None, val_list=None):
    """Write the list files for `domains` (the last is the target); returns the `prepared.json` record.

    With `train_list` and `val_list` (the official code's files) the split is the paper's; otherwise
    whole `val_buildings`, or a seeded `val_fraction` of the views, validate.
    """
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"the Taskonomy tree is not a folder: {root}")
    domains = list(domains)
    if len(domains) < 2 or len(set(domains)) != len(domains):
        raise DataError(f"--domains needs two or more distinct domains, got {domains}.")
    if bool(train_list) != bool(val_list):
        raise DataError("--train-list and --val-list come together: the official split is both files.")
    if train_list:
        if val_buildings:
            raise DataError("--val-buildings splits the tree itself; the official lists already hold the split.")
        return prepare_official_split(root, domains, out, train_list, val_list)
    if not 0 < val_fraction < 1 and not val_buildings:
        raise DataError(f"--val-fraction must be in (0, 1), got {val_fraction}.")
    buildings = buildings_of(root, domains)
    unknown = [b for b in val_buildings if b not in buildings]
    if unknown:
        raise DataError(f"--val-buildings {unknown} are not buildings of {root} (found {sorted(buildings)}).")

    samples, dropped = [], {}
    for building, folder in buildings.items():
        per_domain = {domain: domain_views(folder, domain) for domain in domains}
        common = set.intersection(*per_domain.values())
        for domain, views in per_domain.items():
            if views - common:
                dropped[f"{building or root.name}/{domain}"] = len(views - common)
        prefix = f"images/{building}/" if building else "images/"
        for point, view in sorted(common):
            samples.append((building, f"{prefix}{{domain}}/point_{point}_view_{view}_domain_{{domain}}.png"))
    if not samples:
        raise DataError(f"{root}: no view is present in every domain {domains}.")

    if val_buildings:
        is_val = np.array([building in val_buildings for building, _ in samples])
    else:
        order = np.random.default_rng(seed).permutation(len(samples))
        is_val = np.zeros(len(samples), bool)
        is_val[order[: max(1, round(val_fraction * len(samples)))]] = True
    if is_val.all() or not is_val.any():
        raise DataError(f"the split leaves {'no training' if is_val.all() else 'no validation'} views.")

    with PreparedFolder(out, "taskonomy") as folder:
        os.symlink(root, folder.work / "images", target_is_directory=True)
        folder.write_list("train_domain.txt", [t for (_, t), val in zip(samples, is_val) if not val])
        folder.write_list("val_domain.txt", [t for (_, t), val in zip(samples, is_val) if val])
        return folder.finish(
            {"train": int((~is_val).sum()), "val": int(is_val.sum())},
            tree=str(root),
            domains=domains,
            split={"val_buildings": list(val_buildings)}
            if val_buildings
            else {"val_fraction": val_fraction, "seed": seed},
            views_missing_a_domain=dropped,
        )
