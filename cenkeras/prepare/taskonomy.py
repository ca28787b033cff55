"""Taskonomy list files from a downloaded folder tree (the `taskonomy_*` recipes read them).

A Taskonomy download holds one folder per domain, `{domain}/point_{P}_view_{V}_domain_{domain}.png`,
either at the top of the tree (one building) or under one folder per
building (`{building}/{domain}/...`). A view is kept only when every
requested domain has it. Validation views are whole buildings
(`val_buildings`) or a seeded fraction of the views.

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


def prepare_taskonomy(root, domains, out, val_buildings=(), val_fraction=0.1, seed=0):
    """Write the list files for `domains` (the last is the target); returns the `prepared.json` record."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"the Taskonomy tree is not a folder: {root}")
    domains = list(domains)
    if len(domains) < 2 or len(set(domains)) != len(domains):
        raise DataError(f"--domains needs two or more distinct domains, got {domains}.")
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
