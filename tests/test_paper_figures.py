"""The paper's figures that `cenkeras reproduce` prints beside its rows, against the transcription
of the paper's tables in `../shared/paper/TABLES.md` (parsed here, so a figure typed wrong or
attached to the wrong row fails)."""

import re

import pytest

from cenkeras.experiments.tables import TABLES
from harness import REPO_ROOT

TRANSCRIPTION = REPO_ROOT.parent / "shared" / "paper" / "TABLES.md"


def transcription():
    if not TRANSCRIPTION.exists():
        pytest.fail(f"{TRANSCRIPTION} is missing: the tests expect ../shared next to the repository.")
    return TRANSCRIPTION.read_text()


def section_41_cbn():
    """{"shared": mIoU, "unshared": mIoU} of Section 4.1's CBN rows."""
    found = {}
    for line in transcription().splitlines():
        match = re.match(r"\| CBN\b.*\*\*(unshared|shared)\*\* convs \| \*\*([\d.]+)\*\*", line)
        if match:
            found[match.group(1)] = match.group(2)
    assert set(found) == {"shared", "unshared"}, found
    return found


def table3_cbn():
    """pixel acc / mean acc / mIoU on NYUDv2 and SUN RGB-D of Table 3's CBN row."""
    line = next(line for line in transcription().splitlines() if re.match(r"\| RGB-D \| CBN\b", line))
    return [cell.strip() for cell in line.strip("|").split("|")][-2:]


def row(table, key):
    return next(row for row in TABLES[table].rows if row.key == key)


def test_the_cbn_rows_carry_the_figures_of_their_own_setting():
    """Section 4.1: "The IoUs of CBN with unshared and shared convolutional parameters are 48.3
    and 48.9, respectively"; Table 3's CBN row (ResNet-101) is the shared one."""
    cbn = section_41_cbn()
    assert cbn == {"shared": "48.9", "unshared": "48.3"}
    assert row("table1", "cbn-shared").paper.startswith(f"{cbn['shared']} ")
    assert row("table1", "cbn-unshared").paper.startswith(f"{cbn['unshared']} ")
    nyudv2, sunrgbd = table3_cbn()
    shared = row("table3", "cbn-shared").paper
    assert shared.startswith(nyudv2) and f"SUN RGB-D {sunrgbd}" in shared and nyudv2.endswith(cbn["shared"])
    assert row("table3", "cbn-unshared").paper.startswith(f"{cbn['unshared']} ")


PAPER_RECIPES = (
    "nyudv2_refinenet101",
    "nyudv2_refinenet152",
    "nyudv2_pspnet152",
    "sunrgbd_refinenet101",
    "sunrgbd_pspnet152",
    "taskonomy_shade_texture_to_rgb",
    "taskonomy_depth_normal_to_rgb",
    "taskonomy_four_to_rgb",
)


@pytest.mark.parametrize("name", PAPER_RECIPES)
def test_the_paper_recipes_train_in_float32_as_the_paper_did(name):
    from cenkeras.experiments.recipe_files import load_recipe

    assert load_recipe(name).train.precision == "float32"


@pytest.mark.parametrize("name", [name for name in PAPER_RECIPES if not name.startswith("taskonomy")])
def test_the_paper_segmentation_recipes_evaluate_as_the_official_code_and_the_paper(name):
    """Logits upsampled bicubically (the official cv2 INTER_CUBIC); multi-scale = RefineNet's scales."""
    from cenkeras.experiments.recipe_files import load_recipe

    evaluation = load_recipe(name).eval
    assert evaluation.upsampling == "bicubic"
    assert evaluation.views(True) == ((0.4, 0.6, 0.8, 1.0, 1.2), False)
