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


def test_the_cbn_rows_carry_the_figures_of_their_own_setting():
    """Section 4.1: "The IoUs of CBN with unshared and shared convolutional parameters are 48.3
    and 48.9, respectively"; Table 3's CBN row (ResNet-101) is the shared one."""
    cbn = section_41_cbn()
    assert cbn == {"shared": "48.9", "unshared": "48.3"}
    assert published("table1", "cbn-shared") == {("NYUDv2", "ensemble"): cbn["shared"]}
    assert published("table1", "cbn-unshared") == {("NYUDv2", "ensemble"): cbn["unshared"]}
    nyudv2, sunrgbd = table3_cbn()
    assert published("table3", "cbn-shared") == {("NYUDv2", "ensemble"): nyudv2, ("SUN RGB-D", "ensemble"): sunrgbd}
    assert nyudv2.endswith(cbn["shared"])


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


# ---- Every published figure `cenkeras reproduce` prints, against the transcription ----


def section(title):
    """The data lines of the markdown table under the `## title...` heading, as lists of cells."""
    text = transcription().split("\n## ")
    (body,) = [part for part in text if part.startswith(title)]
    lines = [line for line in body.splitlines() if line.startswith("|")][2:]  # no header, no rule
    return [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]


def published(table, key):
    """{(dataset, output): numbers} of a row's figures in `cenkeras.experiments.paper_figures`."""
    from cenkeras.experiments.paper_figures import figures_of

    return {(f.dataset, output): value for f in figures_of(table, key) for output, value in f.outputs}


TABLE1_KEYS = {
    ("unshared", "unshared", "no", "no"): "unshared-unshared-none-off",
    ("shared", "shared", "no", "no"): "shared-shared-none-off",
    ("shared", "unshared", "no", "no"): "shared-private-none-off",
    ("shared", "unshared", "half-channel", "no"): "shared-private-half-off",
    ("shared", "unshared", "half-channel", "yes"): "shared-private-half-on",
    ("shared", "unshared", "all-channel", "yes"): "shared-private-all-on",
}
SECTION41_KEYS = {
    "fixed portion": "fixed-30",
    "30% exchanged only at each down-sampling": "downsampling-only",
    "CBN (depth BN": "cbn-unshared",
    "CBN, **shared**": "cbn-shared",
    "summing activations": "sum",
    "summing with a learnt": "gated-sum",
    "concat-fusion block": "concat-ensemble",
    "random exchange": "random-30",
    "discarding": "discard",
}
TABLE2_FUSIONS = {"concat": "concat", "align": "align", "self-att.": "self_attention"}
TABLE3_KEYS = {
    ("RefineNet", "ResNet-101"): "refinenet101-rgb-ms",
    ("RefineNet", "ResNet-152"): "refinenet152-rgb-ms",
    ("CEN-RefineNet, single-scale", "ResNet-101"): "cen-refinenet101",
    ("CEN-RefineNet (multi-scale)", "ResNet-101"): "cen-refinenet101-ms",
    ("CEN-RefineNet (multi-scale)", "ResNet-152"): "cen-refinenet152-ms",
    ("CEN-PSPNet (multi-scale)", "ResNet-152"): "cen-pspnet152-ms",
    ("CBN (re-implemented by the authors)", "ResNet-101"): "cbn-shared",
}
TABLE5_KEYS = ("depth", "normal", "texture", "shade", "depth-normal", "depth-normal-texture")
TABLE5_KEYS += ("depth-normal-texture-shade",)


def expected_figures():
    """{(table, row key): {(dataset, output): numbers}} read from the transcription."""
    expected = {}

    def add(table, key, dataset, output, value):
        expected.setdefault((table, key), {})[(dataset, output)] = value

    for convs, norms, l1, exchange, rgb, depth, ensemble in section("Table 1"):
        key = TABLE1_KEYS[(convs, norms, l1, exchange)]
        for output, value in (("rgb", rgb), ("depth", depth), ("ensemble", ensemble)):
            add("table1", key, "NYUDv2", output, value)
    for variant, miou, _ in section("Section 4.1"):
        (key,) = [key for prefix, key in SECTION41_KEYS.items() if variant.startswith(prefix)]
        add("table1", key, "NYUDv2", "ensemble", miou.strip("*"))
    for modality, approach, common, _, ours, _, _ in section("Table 2"):
        if approach == "uni-modal":
            output = "rgb" if modality == "RGB" else "depth"
            add("table2", f"{output}-network", "NYUDv2", "ensemble", common)
            add("table2", f"{output}-network", "NYUDv2", output, common)
            continue
        if approach == "ours (CEN)":
            key = "cen-shared"
        else:
            fusion, stage = approach.rstrip(")").split(" (")
            key = f"{TABLE2_FUSIONS[fusion]}-{stage.replace('-stage', '')}"
            add("table2", f"{key}-unshared", "NYUDv2", "ensemble", common)
            key += "-shared"
        for output, value in zip(("rgb", "depth", "ensemble"), ours.split(" / ")):
            add("table2", key, "NYUDv2", output, value)
    for modality, approach, backbone, nyudv2, sunrgbd in section("Table 3"):
        key = TABLE3_KEYS.get((approach, backbone))
        output = "rgb" if modality == "RGB" else "ensemble"
        for dataset, value in (("NYUDv2", nyudv2), ("SUN RGB-D", sunrgbd)):
            if key and set(value) - set("- /"):
                add("table3", key, dataset, output, value)
    pair = None
    for inputs, cen, fusion, *stages in section("Table 4"):
        if inputs:
            pair = {"shade + texture -> RGB": "shade-texture", "depth + normal -> RGB": "depth-normal"}[inputs]
            add("table4", f"{pair}-cen-shared", "Taskonomy", "", cen)
        fusion = {"self-att.": "self_attention"}.get(fusion, fusion)
        for stage, value in zip(("early", "middle", "late", "all"), stages):
            add("table4", f"{pair}-{fusion}-{stage}-shared", "Taskonomy", "", value)
    (fid, *fids), (kid, *kids) = section("Table 5")
    assert fid == "FID" and kid.startswith("KID")
    for key, fid, kid in zip(TABLE5_KEYS, fids, kids, strict=True):
        add("table5", key, "Taskonomy", "", f"{fid} / {kid}")
    return expected


def test_every_figure_of_the_paper_is_beside_its_row_as_published():
    """Tables 1-5 and Section 4.1, each output the paper gives, SUN RGB-D beside NYUDv2: every
    figure of the transcription is on its row, and no row carries a figure the paper lacks
    (beyond the official README's single-scale ResNet-152 and Section 4.1's unshared CBN in
    Table 3, both checked on their own)."""
    from cenkeras.experiments.paper_figures import FIGURES

    expected = expected_figures()
    assert len(expected) == 15 + 2 + 12 * 2 + 1 + 7 + 34 + 7  # rows with figures, per table
    for (table, key), figures in expected.items():
        assert published(table, key) == figures, (table, key)
        assert key in {row.key for row in TABLES[table].runs}, (table, key)
    extra = {(t, key) for t, rows in FIGURES.items() for key in rows} - set(expected)
    assert extra == {("table3", "cen-refinenet152"), ("table3", "cbn-unshared")}
    assert published("table3", "cbn-unshared") == published("table1", "cbn-unshared")
    assert published("table3", "cen-refinenet152") == {("NYUDv2", "ensemble"): "77.0 / 64.4 / 51.6"}
    assert "(77.0 / 64.4 / 51.6)" in " ".join(transcription().split())  # the official README's, quoted


def test_table3_prints_the_other_methods_as_context_rows_it_does_not_run():

    table = TABLES["table3"]
    context = {row.label.split(" (published")[0]: row for row in table.rows if row.context}
    others = [cells for cells in section("Table 3") if (cells[1], cells[2]) not in TABLE3_KEYS]
    assert len(context) == len(others) == 10
    for _, approach, backbone, nyudv2, sunrgbd in others:
        (label,) = [label for label in context if label.startswith(approach.split(" (")[0]) and backbone in label]
        figures = {f.dataset: f.outputs[0][1] for f in context[label].paper}
        assert figures == {d: v for d, v in (("NYUDv2", nyudv2), ("SUN RGB-D", sunrgbd)) if set(v) - set("- /")}
    assert not set(context.values()) & set(table.runs)


def row_recipes(table, recipe_name):
    from cenkeras.experiments import reproduce
    from cenkeras.experiments.recipe_files import load_recipe

    _, planned = reproduce.plan(table, load_recipe(recipe_name))
    return {row.key: (row, recipe) for row, recipe in planned}


def same_experiment(a, b):
    from cenkeras.config import to_dict

    a, b = to_dict(a), to_dict(b)
    for recipe in (a, b):
        recipe.pop("name"), recipe.pop("description")
    return a == b


@pytest.mark.parametrize(
    "base, deeper",
    [
        ("nyudv2_refinenet101", {"cen-refinenet152": "nyudv2_refinenet152", "cen-pspnet152": "nyudv2_pspnet152"}),
        ("sunrgbd_refinenet101", {"cen-pspnet152": "sunrgbd_pspnet152"}),
    ],
)
def test_table3_resnet152_rows_train_the_paper_recipes_of_their_figures(base, deeper):
    """NYUDv2: ResNet-152 trains 3 x 150 epochs where ResNet-101 trains 3 x 100; SUN RGB-D keeps 3 x 20.
    A ResNet-152 row on a paper recipe is the matching paper recipe, key for key."""
    from cenkeras.experiments.recipe_files import load_recipe

    rows = row_recipes("table3", base)
    for key, recipe_name in deeper.items():
        assert same_experiment(rows[key][1], load_recipe(recipe_name)), key
    epochs = (150, 150, 150) if base.startswith("nyudv2") else (20, 20, 20)
    for key in ("refinenet152-rgb", "cen-refinenet152", "cen-pspnet152"):
        assert rows[key][1].train.epochs == epochs and rows[key][1].model.depth == 152
    assert rows["cen-refinenet101"][1].train.epochs == rows["refinenet101-rgb"][1].train.epochs
    # The paper's ResNet-152 figures are multi-scale: those rows evaluate the single-scale run.
    for key in ("refinenet152-rgb-ms", "cen-refinenet152-ms", "cen-pspnet152-ms"):
        row, _ = rows[key]
        assert row.reuses == key[: -len("-ms")] and row.evaluation == (("multi_scale", True),)
        assert all(figure.protocol == "multi-scale" for figure in row.paper)


def test_the_down_sampling_ablation_is_the_papers_fixed_thirty_percent_without_l1():
    """Section 4.1: "only exchanging 30% channels at each down-sampling stage" (48.6): a fixed portion,
    no L1; CEN's own rule restricted to those blocks is another row, labelled as not the paper's."""
    rows = row_recipes("table1", "nyudv2_refinenet101")
    row, recipe = rows["downsampling-only"]
    exchange = recipe.model.exchange
    assert (exchange.rule, exchange.portion, exchange.placement) == ("fixed", 0.3, "downsampling")
    assert recipe.train.sparsity == 0 and published("table1", "downsampling-only") == {("NYUDv2", "ensemble"): "48.6"}
    row, recipe = rows["downsampling-only-l1"]
    assert recipe.model.exchange.rule == "threshold" and recipe.train.sparsity > 0
    assert "not the paper's" in row.label and not row.paper


def test_a_recipe_shortened_to_fewer_stages_names_the_resnet152_schedule_to_set():
    from cenkeras.config import ConfigError, apply_overrides
    from cenkeras.experiments import reproduce
    from cenkeras.experiments.recipe_files import load_recipe

    shortened = ("train.epochs=2", "train.lr_encoder=1e-3", "train.lr_decoder=1e-3")
    recipe = apply_overrides(load_recipe("nyudv2_refinenet101"), list(shortened))  # a user's shorter run
    assert len(reproduce.plan("table1", recipe)[1]) == len(TABLES["table1"].runs)  # no ResNet-152 row
    with pytest.raises(ConfigError, match="set train.resnet152_epochs too"):
        reproduce.plan("table3", recipe)
    recipe.train.resnet152_epochs = (3,)
    rows = {row.key: row_recipe for row, row_recipe in reproduce.plan("table3", recipe)[1]}
    assert rows["cen-pspnet152"].train.epochs == (3,) and rows["cen-refinenet101"].train.epochs == (2,)


def test_table2_unshared_rows_say_they_are_not_the_papers_one_trunk_setting():
    """The paper's commonly-used setting has one fused trunk after the fusion point (concat-early:
    120.1M parameters); cenkeras' unshared rows keep both streams, so their label says so and the
    published figure (with its parameter count) stays beside them as context."""
    unshared = [row for row in TABLES["table2"].runs if row.key.endswith("-unshared")]
    cen = next(row for row in unshared if row.key == "cen-unshared")
    assert "not the paper's one-trunk setting" in cen.label and not cen.paper  # Table 2 has no such CEN row
    unshared.remove(cen)
    assert len(unshared) == 12
    for row in unshared:
        assert "not the paper's one-trunk setting" in row.label
        (figure,) = row.paper
        assert figure.source == "Table 2, commonly-used setting" and figure.parameters
    concat_early = next(row for row in unshared if row.key == "concat-early-unshared")
    assert "120.1M params" in concat_early.paper[0].describe()
