"""The paper's comparison tables as data: each row is a label and the recipe overrides that make it.

Overrides use the `--set` syntax and are applied on top of the recipe given
to `cenkeras reproduce`, so the same table runs on the synthetic scenes, on
NYUDv2 or on Taskonomy. Rows that turn the exchange off also turn the L1
term off unless the row is about it, as the paper's baselines do.

- table1: Table 1's ablations of CEN (shared/unshared convs and norms, L1
  on none/half/all channels, exchange on/off), plus the paper's extra
  ablations: a fixed 30% of channels exchanged without L1, a random 30%
  (ShuffleNet-like), and discarding instead of exchanging.
- table1 also has Section 4.1's further ablations: a fixed 30% exchanged
  only in the down-sampling block of each stage, without L1 (and, not the
  paper's, CEN's own rule there), conditional BN (shared / unshared
  convs), summing the streams (plainly, or through a learnt gate) instead
  of exchanging, and a concat-fusion block instead of the ensemble.
- table2: fusion methods for segmentation, with unshared encoders and in
  the paper's setting (shared convolutions, private norms), with the
  parameters in total and those used for fusion. The paper's
  "commonly-used setting" fuses into a single trunk after the fusion point;
  the unshared rows here keep both streams to the end, and their label says
  they are not that setting (the published figures stay beside them as
  context).
- table3: uni-modal RefineNet-101/152 (RGB only), CEN-RefineNet-101 and
  -152 and CEN-PSPNet-152, each at single scale and multi-scale (a `-ms`
  row evaluates its single-scale row's run with RefineNet's protocol, that
  of the paper's Table 3), the CBN rows, and the other methods as context.
- table4: fusion methods for image translation, for both input pairs of
  the paper (shade + texture, depth + normal).
- table5: translation from more and more input domains (CEN), the paper's
  rows: each domain alone, then depth + normal, + texture, + shade.
- missing (not the paper's): an RGB-D network without one of its
  modalities: CEN, CEN trained with modality dropout (with and without
  lone norms) and CEN trained with lone passes and lone norms, each
  evaluated with both and with either one alone, and the rgb-only and
  depth-only networks (the fallback a user would otherwise deploy).
- missing-translation: the same for translation from shade + texture:
  each input domain alone, and the shade-only and texture-only generators.

Every fusion baseline runs at each stage: early, middle, late and all.
A row's `paper` holds its published figures (`paper_figures.FIGURES`: the
RGB / Depth / Ensemble figures where the paper gives them, SUN RGB-D's
beside NYUDv2's in Table 3), printed beside the measured ones; a row the
paper has no figure for prints "–", never a guess. Table 3 also lists the
paper's other methods as context rows, which are printed, never run.

A row's overrides may name recipe values in braces: `{resnet152_epochs}`
is the recipe's `train.resnet152_epochs` (the schedule the paper gives a
ResNet-152 on that data), so a row trains what its figure was trained with.

Translation rows name the paper's domains as `{shade}`, `{texture}`,
`{depth}`, `{normal}` and the target as `{target}`; `cenkeras.experiments.reproduce.plan`
fills in the recipe's own names (`data.paper_domains`: Taskonomy calls shade
`reshading`, texture `edge_texture`, ...; the target is the recipe's last domain).
"""

import dataclasses

from cenkeras.experiments.paper_figures import CONTEXT, context_figures, figures_of

OFF = ("train.sparsity=0",)
NO_EXCHANGE = ("model.exchange.scope=none", *OFF)
# A ResNet-152 row: the depth and the schedule the paper gives it on the recipe's data.
RESNET152 = ("model.depth=152", "train.epochs={resnet152_epochs}")
MULTI_SCALE = (("multi_scale", True),)


@dataclasses.dataclass(frozen=True)
class Row:
    """One run of a table: a short `key` (its folder), the label printed, the overrides.

    `paper` holds the row's published figures (`PaperFigure`s), printed
    beside the measured ones; empty where the paper has none.
    `evaluation` holds evaluation options (`(("multi_scale", True),)`), and
    a row with `reuses` trains nothing: it evaluates the run of the row
    `reuses` names with its own options (multi-scale beside single-scale).
    A `context` row is another method's published figure: printed, not run.
    """

    key: str
    label: str
    overrides: tuple = ()
    paper: tuple = ()
    evaluation: tuple = ()
    reuses: str = ""
    context: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of runs for one task ("segmentation" or "translation")."""

    name: str
    title: str
    task: str
    rows: tuple

    @property
    def runs(self):
        """The rows `cenkeras reproduce` runs (not the context rows)."""
        return tuple(row for row in self.rows if not row.context)


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


def _translation_fusion_rows():
    rows = []
    fusions = (("concat", STAGES), ("average", STAGES), ("align", STAGES), ("self_attention", STAGES))
    for pair_key, pair_label, roles in PAIRS:
        for row in _fusion_rows(fusions, SETTINGS[1:]):
            key = f"{pair_key}-{row.key}"
            overrides = (_domains(*roles), *row.overrides)
            rows.append(Row(key, f"{pair_label}: {row.label}", overrides))
    return tuple(rows)


# Table 5's inputs, as the paper adds them.
TABLE5_INPUTS = (("depth",), ("normal",), ("texture",), ("shade",), ("depth", "normal"), ("depth", "normal", "texture"))
TABLE5_INPUTS += (("depth", "normal", "texture", "shade"),)

# Modality dropout of the "missing" table's dropout rows.
MISSING_DROPOUT = 0.4
# Weight of the lone passes (`train.lone_weight`) of the "missing" table's lone-pass row.
MISSING_LONE_WEIGHT = 0.3
# The input whose lone pass the weighted row weighs more (`train.lone_weights`), and by how much:
# the one that stays furthest under its single-input network with the same weight for all.
MISSING_WEIGHTED_INPUT = {"segmentation": "depth", "translation": "{texture}"}
MISSING_WEIGHTED_LONE_WEIGHT = 0.6
LONE_NORMS = "model.lone_norms=true"


def _missing_variants(task):
    """`(key, label, overrides)` of the networks the "missing" tables train once and evaluate with
    every modality and without each: CEN as the paper trains it, and the ways of training it to
    run without a modality (distillation is the segmentation trainer's, the discriminator the
    translation trainer's)."""
    dropout = f"train.modality_dropout={MISSING_DROPOUT}"
    lone = f"train.lone_weight={MISSING_LONE_WEIGHT}"
    variants = [
        ("cen", "CEN", ()),
        ("cen-dropout", f"CEN + modality dropout {MISSING_DROPOUT}", (dropout,)),
        ("cen-dropout-lone-norms", f"CEN + modality dropout {MISSING_DROPOUT} + lone norms", (dropout, LONE_NORMS)),
        ("cen-lone-shared-norms", f"CEN + lone passes {MISSING_LONE_WEIGHT}", (lone,)),
        ("cen-lone", f"CEN + lone passes {MISSING_LONE_WEIGHT} + lone norms", (lone, LONE_NORMS)),
    ]
    weighted, weight = MISSING_WEIGHTED_INPUT[task], MISSING_WEIGHTED_LONE_WEIGHT
    label = f"CEN + lone passes {MISSING_LONE_WEIGHT}, {weighted.strip('{}')}'s {weight} + lone norms"
    variants.append(("cen-lone-weighted", label, (lone, f"train.lone_weights={weighted}:{weight}", LONE_NORMS)))
    if task == "segmentation":
        # Measured over three seeds on the embedded scenes (docs/missing-modalities.md).
        key, label, overrides = variants[-1]
        variants[-1] = (key, f"{label} (recommended)", overrides)
        distillation = f"train.lone_distillation={MISSING_LONE_WEIGHT}"
        label = f"CEN + lone passes {MISSING_LONE_WEIGHT} + lone norms + distillation {MISSING_LONE_WEIGHT}"
        variants.append(("cen-lone-distillation", label, (lone, LONE_NORMS, distillation)))
    else:
        label = f"CEN + lone passes {MISSING_LONE_WEIGHT} + lone norms, the discriminator learning their images"
        variants.append(("cen-lone-judged", label, (lone, LONE_NORMS, "train.lone_discriminator=true")))
    return variants


def _missing_rows(task, pair, single_network):
    """Each of `_missing_variants(task)` evaluated with both inputs and with either one missing
    (`eval --modalities`), and the single-input networks a user would otherwise deploy for the
    fallback.

    `pair`: the two inputs as `(key, name)`, the name a recipe name or a `{role}` placeholder;
    `single_network(key)`: the overrides of a network taking only that input.
    """
    rows = []
    for key, label, overrides in _missing_variants(task):
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
    # The paper's commonly-used setting fuses into one trunk after the fusion point and has only
    # the fused output; these rows keep both unshared streams to the end, so their architecture,
    # parameter count and outputs are not the published ones (the label says so).
    (
        "unshared",
        "unshared encoders, both streams kept (not the paper's one-trunk setting)",
        ("model.share_convs=false",),
    ),
    ("shared", "our setting (shared convs, private norms)", ()),
)


def _single_modality_rows():
    """RGB-only and depth-only RefineNets (Tables 1-2's uni-modal rows)."""
    return tuple(
        Row(f"{modality}-network", f"uni-modal: {label} only", (f"data.inputs={modality}", *NO_EXCHANGE))
        for modality, label in (("rgb", "RGB"), ("depth", "depth"))
    )


def _multi_scale(row, label):
    """The multi-scale evaluation of `row`'s run (Table 3's protocol), trained once for both."""
    return Row(f"{row.key}-ms", label, row.overrides, evaluation=MULTI_SCALE, reuses=row.key)


def _table3_rows():
    rows = []
    for key, label, overrides in (
        ("refinenet101-rgb", "RefineNet-101, RGB only", ("data.inputs=rgb", "model.depth=101", *NO_EXCHANGE)),
        ("refinenet152-rgb", "RefineNet-152, RGB only", ("data.inputs=rgb", *RESNET152, *NO_EXCHANGE)),
        ("cen-refinenet101", "CEN-RefineNet-101", ("model.depth=101",)),
        ("cen-refinenet152", "CEN-RefineNet-152", RESNET152),
        # nyudv2_pspnet152 on the recipe's data: PSPNet's head (bins 1/2/3/6, auxiliary loss 0.4,
        # the recipe's decoder width) and its Dropout2d(0.1).
        ("cen-pspnet152", "CEN-PSPNet-152", ("model.architecture=pspnet", *RESNET152, "model.dropout=0.1")),
    ):
        single = Row(key, f"{label}, single-scale", overrides)
        rows += [single, _multi_scale(single, f"{label}, multi-scale")]
    rows += [
        Row(
            "cbn-shared",
            "CEN-RefineNet-101's network with conditional BN instead of exchange, convs shared",
            ("model.depth=101", "model.fusion.method=cbn", *OFF),
        ),
        Row(
            "cbn-unshared",
            "the same with unshared convs",
            ("model.depth=101", "model.fusion.method=cbn", "model.share_convs=false", *OFF),
        ),
    ]
    rows += [
        Row(key, f"{label} (published, not run)", paper=context_figures(nyudv2, sunrgbd), context=True)
        for key, label, nyudv2, sunrgbd in CONTEXT["table3"]
    ]
    return tuple(rows)


def _with_figures(table):
    """`table` with each row's published figures (`paper_figures.FIGURES`) attached by its key."""
    rows = tuple(
        row if row.context else dataclasses.replace(row, paper=figures_of(table.name, row.key)) for row in table.rows
    )
    return dataclasses.replace(table, rows=rows)


TABLE1_ROWS = (
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
    Row("shared-private-half-off", "convs shared, BN private, L1 half, no exchange", ("model.exchange.scope=none",)),
    Row("shared-private-half-on", "convs shared, BN private, L1 half, exchange (CEN)", ()),
    Row("unshared-private-half-on", "convs unshared, BN private, L1 half, exchange", ("model.share_convs=false",)),
    Row("shared-shared-half-on", "convs shared, BN shared, L1 half, exchange", ("model.share_norms=true",)),
    Row("shared-private-all-on", "convs shared, BN private, L1 all, exchange", ("model.exchange.sparsity_scope=all",)),
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
    # Section 4.1: "only exchanging 30% channels at each down-sampling stage": a fixed portion,
    # no L1 and no threshold, in each stage's first block.
    Row(
        "downsampling-only",
        "fixed 30% exchanged only in each stage's first (down-sampling) block, no L1",
        ("model.exchange.rule=fixed", "model.exchange.portion=0.3", "model.exchange.placement=downsampling", *OFF),
    ),
    Row(
        "downsampling-only-l1",
        "CEN's rule (L1 + threshold) only in each stage's first block (not the paper's variant)",
        ("model.exchange.placement=downsampling",),
    ),
    Row(
        "cbn-shared",
        "conditional BN (depth norms from RGB), convs shared, no exchange",
        ("model.fusion.method=cbn", *OFF),
    ),
    Row(
        "cbn-unshared",
        "conditional BN (depth norms from RGB), convs unshared, no exchange",
        ("model.fusion.method=cbn", "model.share_convs=false", *OFF),
    ),
    Row("sum", "streams summed at every bn2 instead of exchanged", ("model.exchange.rule=sum",)),
    Row("gated-sum", "streams summed through a learnt soft gate", ("model.exchange.rule=gated_sum",)),
    Row("concat-ensemble", "concat-fusion block instead of the ensemble", ("model.ensemble=concat",)),
)

_TABLES = (
    Table("table1", "Ablations of CEN (paper Table 1 and Section 4.1)", "segmentation", TABLE1_ROWS),
    Table(
        "table2",
        "Fusion methods for RGB-D segmentation (paper Table 2)",
        "segmentation",
        (
            *_single_modality_rows(),
            *_fusion_rows((("concat", STAGES), ("align", STAGES), ("self_attention", STAGES)), SETTINGS),
        ),
    ),
    Table(
        "table3",
        "RGB-D segmentation against uni-modal networks, CEN-RefineNet and CEN-PSPNet (paper Table 3)",
        "segmentation",
        _table3_rows(),
    ),
    Table(
        "missing",
        "When a modality is missing: CEN, CEN trained to run without each modality, single-modality networks",
        "segmentation",
        _missing_rows("segmentation", (("rgb", "rgb"), ("depth", "depth")), lambda key: (f"data.inputs={key}",)),
    ),
    Table(
        "missing-translation",
        "When an input domain is missing: CEN, CEN trained to run without each domain, single-domain generators",
        "translation",
        _missing_rows("translation", (("shade", "{shade}"), ("texture", "{texture}")), lambda role: (_domains(role),)),
    ),
    Table("table4", "Fusion methods for image translation (paper Table 4)", "translation", _translation_fusion_rows()),
    Table(
        "table5",
        "Translation from more input domains (paper Table 5)",
        "translation",
        tuple(Row("-".join(roles), " + ".join(roles), (_domains(*roles),)) for roles in TABLE5_INPUTS),
    ),
)
TABLES = {table.name: _with_figures(table) for table in _TABLES}


def table(name):
    """The table called `name`; a ValueError lists the known ones."""
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; expected one of {sorted(TABLES)}.")
    return TABLES[name]
