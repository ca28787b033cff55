"""The paper's comparison tables as data: each row is a label and the recipe overrides that make it.

Overrides use the `--set` syntax and are applied on top of the recipe given
to `cenkeras reproduce`, so the same table runs on the synthetic scenes, on
NYUDv2 or on Taskonomy. Rows that turn the exchange off also turn the L1
term off unless the row is about it, as the paper's baselines do.

- table1: Table 1's ablations of CEN (shared/unshared convs and norms, L1
  on none/half/all channels, exchange on/off), plus the paper's extra
  ablations: a fixed 30% of channels exchanged without L1, a random 30%
  (ShuffleNet-like), and discarding instead of exchanging.
- table1 also has Section 4.1's further ablations: exchange only in the
  down-sampling block of each stage, conditional BN (shared / unshared
  convs), summing the streams (plainly, or through a learnt gate) instead
  of exchanging, and a concat-fusion block instead of the ensemble.
- table2: fusion methods for segmentation, in the commonly-used setting
  (unshared encoders) and in ours (shared convolutions, private norms), with
  the parameters each uses for fusion.
- table3: uni-modal RefineNet-101/152 (RGB only), CEN-RefineNet-101 at
  single and multi-scale (the multi-scale row evaluates the single-scale
  row's run), CEN-RefineNet-152, CEN-PSPNet-152, and the CBN rows.
- table4: fusion methods for image translation, for both input pairs of
  the paper (shade + texture, depth + normal).
- table5: translation from more and more input domains (CEN), the paper's
  rows: each domain alone, then depth + normal, + texture, + shade.
- missing (not the paper's): an RGB-D network without one of its
  modalities: CEN and CEN trained with modality dropout, each evaluated
  with both and with either one alone, and the rgb-only and depth-only
  networks (the fallback a user would otherwise deploy).
- missing-translation: the same for translation from shade + texture:
  each input domain alone, and the shade-only and texture-only generators.

Every fusion baseline runs at each stage: early, middle, late and all.
A row's `paper` field is the published figure, printed beside the measured
one. Its sources: the paper's text and Table 3 (Section 4.1's ablations, the
CBN rows: shared convs 48.9, unshared 48.3) and the official README
(CEN-RefineNet-101/152, the shade + texture translation). A row without a
figure here (most rows of Tables 1, 2, 4 and 5 so far) prints "–", never a
guess; `tests/test_paper_figures.py` checks the figures against the paper.

Translation rows name the paper's domains as `{shade}`, `{texture}`,
`{depth}`, `{normal}` and the target as `{target}`; `cenkeras.experiments.reproduce.plan`
fills in the recipe's own names (`data.paper_domains`: Taskonomy calls shade
`reshading`, texture `edge_texture`, ...; the target is the recipe's last domain).
"""

import dataclasses

OFF = ("train.sparsity=0",)
# Units of the published figures: NYUDv2 test set, single scale unless a row says otherwise.
MIOU = "mIoU (NYUDv2)"
ACC_MIOU = "pixel acc / mean acc / mIoU (NYUDv2)"
NO_EXCHANGE = ("model.exchange.scope=none", *OFF)


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of a table: a short `key` (its folder), the label printed, the overrides.

    `paper` is the published figure for the row (with its unit and source),
    printed beside the measured one; "" where none was transcribed.
    `evaluation` holds evaluation options (`(("multi_scale", True),)`), and
    a row with `reuses` trains nothing: it evaluates the run of the row
    `reuses` names with its own options (multi-scale beside single-scale).
    """

    key: str
    label: str
    overrides: tuple = ()
    paper: str = ""
    evaluation: tuple = ()
    reuses: str = ""


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of runs for one task ("segmentation" or "translation")."""

    name: str
    title: str
    task: str
    rows: tuple


def _fusion_rows(fusions, settings):
    rows = []
    for setting_key, setting_label, setting in settings:
        for fusion, stages in fusions:
            for stage in stages:
                label = f"{fusion.replace('_', '-')} ({stage}), {setting_label}"
                rows.append(
                    Row(
                        f"{fusion}-{stage}-{setting_key}",
                        label,
                        (*setting, f"model.fusion.method={fusion}", f"model.fusion.stage={stage}", *OFF),
                    )
                )
        rows.append(Row(f"cen-{setting_key}", f"CEN, {setting_label}", setting))
    return tuple(rows)


def _domains(*roles):
    """The override selecting these paper domains as inputs (names filled in per recipe) and the target."""
    return "data.domains=" + ",".join([*(f"{{{role}}}" for role in roles), "{target}"])


# Table 4's input pairs: (key, label, the paper's domains).
PAIRS = (
    ("shade-texture", "shade + texture", ("shade", "texture")),
    ("depth-normal", "depth + normal", ("depth", "normal")),
)


# Published translation figures by row key (Taskonomy, shade + texture -> RGB, the official README).
TRANSLATION_PAPER = {"shade-texture-cen-shared": "FID 62.6 / KID×100 1.65 (official README)"}


def _translation_fusion_rows():
    rows = []
    fusions = (("concat", STAGES), ("average", STAGES), ("align", STAGES), ("self_attention", STAGES))
    for pair_key, pair_label, roles in PAIRS:
        for row in _fusion_rows(fusions, SETTINGS[1:]):
            key = f"{pair_key}-{row.key}"
            overrides = (_domains(*roles), *row.overrides)
            rows.append(Row(key, f"{pair_label}: {row.label}", overrides, paper=TRANSLATION_PAPER.get(key, "")))
    return tuple(rows)


# Table 5's inputs, as the paper adds them.
TABLE5_INPUTS = (("depth",), ("normal",), ("texture",), ("shade",), ("depth", "normal"), ("depth", "normal", "texture"))
TABLE5_INPUTS += (("depth", "normal", "texture", "shade"),)

# Modality dropout of the "missing" table's dropout rows.
MISSING_DROPOUT = 0.4


def _missing_rows(pair, single_network):
    """CEN and CEN trained with modality dropout, each evaluated with both inputs and with either
    one missing (`eval --modalities`), and the single-input networks a user would otherwise
    deploy for the fallback.

    `pair`: the two inputs as `(key, name)`, the name a recipe name or a `{role}` placeholder;
    `single_network(key)`: the overrides of a network taking only that input.
    """
    rows = []
    trained = (
        ("cen", "CEN", ()),
        ("cen-dropout", f"CEN + modality dropout {MISSING_DROPOUT}", (f"train.modality_dropout={MISSING_DROPOUT}",)),
    )
    for key, label, overrides in trained:
        rows.append(Row(key, f"{label}: {pair[0][0]} + {pair[1][0]}", overrides))
        for (present, name), (absent, _) in (pair, pair[::-1]):
            rows.append(
                Row(
                    f"{key}-no-{absent}",
                    f"{label}: {present} alone ({absent} missing)",
                    overrides,
                    evaluation=(("modalities", (name,)),),
                    reuses=key,
                )
            )
    for key, _ in pair:
        rows.append(Row(f"{key}-network", f"a {key}-only network", (*single_network(key), *NO_EXCHANGE)))
    return tuple(rows)


STAGES = ("early", "middle", "late", "all")
SETTINGS = (
    ("unshared", "commonly-used setting (unshared encoders)", ("model.share_convs=false",)),
    ("shared", "our setting (shared convs, private norms)", ()),
)

TABLES = {
    "table1": Table(
        "table1",
        "Ablations of CEN (paper Table 1 and Section 4.1)",
        "segmentation",
        (
            Row(
                "unshared-unshared-none-off",
                "convs unshared, BN unshared, no L1, no exchange",
                ("model.share_convs=false", *NO_EXCHANGE),
            ),
            Row(
                "shared-shared-none-off",
                "convs shared, BN shared, no L1, no exchange",
                ("model.share_norms=true", *NO_EXCHANGE),
            ),
            Row("shared-private-none-off", "convs shared, BN private, no L1, no exchange", NO_EXCHANGE),
            Row(
                "shared-private-half-off",
                "convs shared, BN private, L1 half, no exchange",
                ("model.exchange.scope=none",),
            ),
            Row(
                "shared-private-half-on",
                "convs shared, BN private, L1 half, exchange (CEN)",
                (),
                paper=f"51.1 {MIOU} (Section 4.1; official README)",
            ),
            Row(
                "unshared-private-half-on",
                "convs unshared, BN private, L1 half, exchange",
                ("model.share_convs=false",),
            ),
            Row("shared-shared-half-on", "convs shared, BN shared, L1 half, exchange", ("model.share_norms=true",)),
            Row(
                "shared-private-all-on",
                "convs shared, BN private, L1 all, exchange",
                ("model.exchange.sparsity_scope=all",),
            ),
            Row(
                "fixed-30",
                "fixed 30% of each part exchanged, no L1",
                ("model.exchange.rule=fixed", "model.exchange.portion=0.3", *OFF),
            ),
            Row(
                "random-30",
                "random 30% of each part exchanged (ShuffleNet-like), no L1",
                ("model.exchange.rule=random", "model.exchange.portion=0.3", *OFF),
            ),
            Row("discard", "channels under the threshold discarded, not exchanged", ("model.exchange.rule=discard",)),
            Row(
                "downsampling-only",
                "exchange only in each stage's first (down-sampling) block",
                ("model.exchange.placement=downsampling",),
                paper=f"48.6 vs 51.1 {MIOU}",
            ),
            # Section 4.1: "The IoUs of CBN with unshared and shared convolutional parameters are
            # 48.3 and 48.9, respectively": shared beats unshared.
            Row(
                "cbn-shared",
                "conditional BN (depth norms from RGB), convs shared, no exchange",
                ("model.fusion.method=cbn", *OFF),
                paper=f"48.9 {MIOU}",
            ),
            Row(
                "cbn-unshared",
                "conditional BN (depth norms from RGB), convs unshared, no exchange",
                ("model.fusion.method=cbn", "model.share_convs=false", *OFF),
                paper=f"48.3 {MIOU}",
            ),
            Row(
                "sum",
                "streams summed at every bn2 instead of exchanged",
                ("model.exchange.rule=sum",),
                paper=f"48.1 {MIOU}",
            ),
            Row(
                "gated-sum",
                "streams summed through a learnt soft gate",
                ("model.exchange.rule=gated_sum",),
                paper=f"48.4 {MIOU}",
            ),
            Row(
                "concat-ensemble",
                "concat-fusion block instead of the ensemble",
                ("model.ensemble=concat",),
                paper=f"50.8 vs 51.1 {MIOU}",
            ),
        ),
    ),
    "table3": Table(
        "table3",
        "RGB-D segmentation against uni-modal networks, CEN-RefineNet and CEN-PSPNet (paper Table 3)",
        "segmentation",
        (
            Row("refinenet101-rgb", "RefineNet-101, RGB only", ("data.inputs=rgb", "model.depth=101", *NO_EXCHANGE)),
            Row("refinenet152-rgb", "RefineNet-152, RGB only", ("data.inputs=rgb", "model.depth=152", *NO_EXCHANGE)),
            Row(
                "cen-refinenet101",
                "CEN-RefineNet-101, single scale",
                ("model.depth=101",),
                paper=f"76.2 / 62.8 / 51.1 {ACC_MIOU} (official README)",
            ),
            Row(
                "cen-refinenet101-ms",
                "CEN-RefineNet-101, multi-scale",
                ("model.depth=101",),
                evaluation=(("multi_scale", True),),
                reuses="cen-refinenet101",
            ),
            Row(
                "cen-refinenet152",
                "CEN-RefineNet-152, single scale",
                ("model.depth=152",),
                paper=f"77.0 / 64.4 / 51.6 {ACC_MIOU} (official README)",
            ),
            Row(
                "cen-pspnet152",
                "CEN-PSPNet-152",
                ("model.architecture=pspnet", "model.depth=152", "model.dropout=0.1"),
                paper=f"77.7 / 65.0 / 52.5 {ACC_MIOU}; SUN RGB-D 83.5 / 63.2 / 51.1",
            ),
            Row(
                "cbn-shared",
                "CEN-RefineNet-101's network with conditional BN instead of exchange, convs shared",
                ("model.depth=101", "model.fusion.method=cbn", *OFF),
                # Table 3's CBN row (re-implemented by the authors, ResNet-101) is the shared one.
                paper=f"75.5 / 61.2 / 48.9 {ACC_MIOU}; SUN RGB-D 81.5 / 59.8 / 47.4",
            ),
            Row(
                "cbn-unshared",
                "the same with unshared convs",
                ("model.depth=101", "model.fusion.method=cbn", "model.share_convs=false", *OFF),
                paper=f"48.3 {MIOU} (Section 4.1)",
            ),
        ),
    ),
    "table2": Table(
        "table2",
        "Fusion methods for RGB-D segmentation (paper Table 2)",
        "segmentation",
        _fusion_rows((("concat", STAGES), ("align", STAGES), ("self_attention", STAGES)), SETTINGS),
    ),
    "missing": Table(
        "missing",
        "When a modality is missing: CEN, CEN with modality dropout, single-modality networks",
        "segmentation",
        _missing_rows((("rgb", "rgb"), ("depth", "depth")), lambda key: (f"data.inputs={key}",)),
    ),
    "missing-translation": Table(
        "missing-translation",
        "When an input domain is missing: CEN, CEN with modality dropout, single-domain generators",
        "translation",
        _missing_rows((("shade", "{shade}"), ("texture", "{texture}")), lambda role: (_domains(role),)),
    ),
    "table4": Table(
        "table4",
        "Fusion methods for image translation (paper Table 4)",
        "translation",
        _translation_fusion_rows(),
    ),
    "table5": Table(
        "table5",
        "Translation from more input domains (paper Table 5)",
        "translation",
        tuple(Row("-".join(roles), " + ".join(roles), (_domains(*roles),)) for roles in TABLE5_INPUTS),
    ),
}


def table(name):
    """The table called `name`; a ValueError lists the known ones."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; expected one of {sorted(TABLES)}.")
    return TABLES[name]
