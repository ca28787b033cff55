"""`cenkeras reproduce`: rows as runs under one folder, resumable, markdown + chart + JSON."""

import json

import pytest
from click.testing import CliRunner

from cenkeras.experiments import reproduce as reproduce_lib
from cenkeras.cli.main import cli
from cenkeras.config import ConfigError
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.training.runs import RunDirectory
from cenkeras.experiments.tables import TABLES
from tiny_recipe import tiny_recipe, tiny_translation_recipe

# The tables' rows train and evaluate tiny runs.
pytestmark = pytest.mark.slow

ROWS = ["shared-private-none-off", "shared-private-half-on", "fixed-30"]


class Interrupted(Exception):
    pass


def quiet(message):
    pass


def test_every_table_row_makes_a_valid_recipe():
    """All rows of every table apply to the matching synthetic recipe (validated, distinct)."""
    for name, table in TABLES.items():
        recipe = tiny_translation_recipe() if table.task == "translation" else tiny_recipe()
        _, planned = reproduce_lib.plan(name, recipe)
        assert len(planned) == len(table.runs) == len({row.key for row, _ in planned})
        assert not any("{" in override for row, _ in planned for override in row.overrides)
    _, planned = reproduce_lib.plan("table2", tiny_recipe(), rows=["concat-early-unshared"])
    ((row, recipe),) = planned
    assert recipe.model.fusion.method == "concat" and recipe.model.fusion.stage == "early"
    assert recipe.model.share_convs is False and recipe.train.sparsity == 0


def test_unknown_rows_and_wrong_task_are_named():
    with pytest.raises(ConfigError, match=r"table1 has no rows \['nope'\]"):
        reproduce_lib.plan("table1", tiny_recipe(), rows=["nope"])
    with pytest.raises(ConfigError, match="table4 compares translation models"):
        reproduce_lib.plan("table4", tiny_recipe())
    with pytest.raises(ValueError, match="unknown table 'table9'"):
        reproduce_lib.plan("table9", tiny_recipe())


def test_reproduce_resumes_without_rerunning_finished_rows(tmp_path, monkeypatch):
    from cenkeras.tasks import get_task

    segmentation = get_task("segmentation")

    out, data_dir = tmp_path / "table1", str(tmp_path / "tfds")
    recipe = tiny_recipe(epochs=(1,))
    trained = []
    train = segmentation.train

    def interrupt_second_row(row_recipe, run_dir, **kwargs):
        trained.append((run_dir.name, kwargs["resume"]))
        if len(trained) == 2:
            raise Interrupted  # the machine went away during the second row
        return train(row_recipe, run_dir, **kwargs)

    monkeypatch.setattr(segmentation, "train", interrupt_second_row)
    with pytest.raises(Interrupted):
        reproduce_lib.reproduce("table1", recipe, out, rows=ROWS, data_dir=data_dir, verbose=0, log=quiet)
    assert RunDirectory(out / ROWS[0]).eval_file.exists()

    trained.clear()

    def record(row_recipe, run_dir, **kwargs):
        trained.append(run_dir.name)
        return train(row_recipe, run_dir, **kwargs)

    monkeypatch.setattr(segmentation, "train", record)
    messages = []
    results = reproduce_lib.reproduce(
        "table1", recipe, out, rows=ROWS, data_dir=data_dir, verbose=0, log=messages.append
    )
    assert trained == ROWS[1:]  # the finished first row was not run again
    assert messages[0] == f"[1/3] {ROWS[0]}: finished earlier, kept"
    assert [row["key"] for row in results["rows"]] == ROWS
    assert all(row["fusion_parameters"] == 0 for row in results["rows"])
    for row in results["rows"]:  # the table's figures are each row's own evaluation
        evaluation = json.loads(RunDirectory(out / row["key"]).eval_file.read_text())
        assert row["scores"] == evaluation["scores"] and row["seeds"] == [recipe.train.seed]
    markdown = (out / "table1.md").read_text()
    assert "| 2 | convs shared, BN private, L1 half, exchange (CEN) |" in markdown
    assert "ensemble mIoU" in markdown and "fusion params" in markdown
    assert (out / "table1.png").stat().st_size > 1000
    assert json.loads((out / "table1.json").read_text())["rows"][2]["key"] == "fixed-30"
    # The fixed-portion row really ran with its overrides.
    saved = RunDirectory(out / "fixed-30").load_recipe()
    assert saved.model.exchange.rule == "fixed" and saved.train.sparsity == 0


def test_table3_multi_scale_row_evaluates_the_single_scale_run_and_prints_the_paper(tmp_path, monkeypatch):
    from cenkeras.tasks import get_task

    segmentation = get_task("segmentation")
    trained, train = [], segmentation.train

    def record(row_recipe, run_dir, **kwargs):
        trained.append(run_dir.name)
        return train(row_recipe, run_dir, **kwargs)

    monkeypatch.setattr(segmentation, "train", record)
    out = tmp_path / "table3"
    _, planned = reproduce_lib.plan("table3", tiny_recipe(), rows=["cen-refinenet101-ms"])
    assert [row.key for row, _ in planned] == ["cen-refinenet101", "cen-refinenet101-ms"]
    results = reproduce_lib.reproduce(
        "table3",
        tiny_recipe(epochs=(1,)),
        out,
        rows=["cen-refinenet101-ms"],
        data_dir=str(tmp_path / "tfds"),
        verbose=0,
        log=quiet,
    )
    assert trained == ["cen-refinenet101"]  # one training, two evaluations
    single, multi = (
        json.loads((out / key / "eval.json").read_text()) for key in ("cen-refinenet101", "cen-refinenet101-ms")
    )
    assert (single["protocol"], single["scales"]) == ("single-scale", [1.0])
    assert (multi["protocol"], multi["scales"], multi["flip"]) == ("refinenet", [0.4, 0.6, 0.8, 1.0, 1.2], False)
    measured = [row["key"] for row in results["rows"] if not row.get("context")]
    assert measured == ["cen-refinenet101", "cen-refinenet101-ms"]
    markdown = (out / "table3.md").read_text()
    assert "| paper |" in markdown
    assert "NYUDv2: ensemble 76.2 / 62.8 / 51.1 pixel acc / mean acc / mIoU (single-scale, Table 3)" in markdown
    assert "SUN RGB-D: ensemble 82.8 / 61.9 / 50.2" in markdown  # the multi-scale row's
    # Table 3's other methods follow, printed and marked as not run.
    rdfnet = next(line for line in markdown.splitlines() if "RDFNet, ResNet-152 (published, not run)" in line)
    assert "| not run |" in rdfnet and "76.0 / 62.8 / 50.1" in rdfnet and "81.5 / 60.1 / 47.7" in rdfnet
    assert not (out / "cen-refinenet101-ms" / "checkpoints").exists()


def test_missing_table_evaluates_one_run_without_each_modality(tmp_path):
    """The "missing" table: a reused row evaluates its run from one modality (its other output
    printed as –), the dropout rows train with modality dropout, the fallbacks are uni-modal."""
    _, planned = reproduce_lib.plan("missing", tiny_recipe(), rows=["cen-dropout-no-rgb", "depth-network"])
    assert [row.key for row, _ in planned] == ["cen-dropout", "cen-dropout-no-rgb", "depth-network"]
    assert planned[0][1].train.modality_dropout == 0.4 and list(planned[2][1].data.modalities) == ["depth"]
    _, planned_lone = reproduce_lib.plan("missing", tiny_recipe(), rows=["cen-lone-no-rgb"])
    (lone_row, lone), (alone_row, _) = planned_lone
    assert lone_row.key == "cen-lone" and lone.train.lone_weight == 0.3 and lone.model.lone_norms
    assert lone.train.modality_dropout == 0 and dict(alone_row.evaluation) == {"modalities": ("depth",)}
    out = tmp_path / "missing"
    results = reproduce_lib.reproduce(
        "missing",
        tiny_recipe(epochs=(1,)),
        out,
        rows=["cen-no-depth"],
        data_dir=str(tmp_path / "tfds"),
        verbose=0,
        log=quiet,
    )
    full, alone = results["rows"]
    assert (full["key"], alone["key"]) == ("cen", "cen-no-depth")
    assert set(alone["scores"]) == {"rgb", "ensemble"}
    assert alone["scores"]["ensemble"]["mean_iou"] == alone["scores"]["rgb"]["mean_iou"]
    assert json.loads((out / "cen-no-depth" / "eval.json").read_text())["modalities"] == ["rgb"]
    lines = (out / "missing.md").read_text().splitlines()
    no_depth = next(line for line in lines if "rgb alone (depth missing)" in line)
    assert no_depth.count("| – ") >= 3  # the depth output's columns (and the paper's)


def test_missing_translation_table_names_each_domain_alone_by_the_recipes_names(tmp_path):
    """The translation "missing" table: a reused row evaluates from the recipe's own name of a
    paper domain (Taskonomy's `reshading` for shade), and a tiny run of it writes that evaluation."""
    _, planned = reproduce_lib.plan("missing-translation", load_recipe("taskonomy_shade_texture_to_rgb"))
    by_key = {row.key: (row, recipe) for row, recipe in planned}
    assert dict(by_key["cen-no-texture"][0].evaluation) == {"modalities": ("reshading",)}
    assert dict(by_key["cen-dropout-no-shade"][0].evaluation) == {"modalities": ("edge_texture",)}
    assert by_key["cen-dropout"][1].train.modality_dropout == 0.4
    assert by_key["texture-network"][1].data.domains == ("edge_texture", "rgb")
    judged = by_key["cen-lone-judged-no-shade"][1].train
    assert judged.lone_discriminator and judged.lone_weight == 0.3 and "cen-lone-judged" in by_key
    out = tmp_path / "missing-translation"
    results = reproduce_lib.reproduce(
        "missing-translation",
        tiny_translation_recipe(),
        out,
        rows=["cen-dropout-no-shade"],
        data_dir=str(tmp_path / "tfds"),
        verbose=0,
        log=quiet,
    )
    full, alone = results["rows"]
    assert (full["key"], alone["key"]) == ("cen-dropout", "cen-dropout-no-shade")
    assert set(full["scores"]) == {"shade", "texture", "ensemble"} and set(alone["scores"]) == {"texture", "ensemble"}
    assert json.loads((out / "cen-dropout-no-shade" / "eval.json").read_text())["modalities"] == ["texture"]
    assert "texture alone (shade missing)" in (out / "missing-translation.md").read_text()


def test_table3_uni_modal_rows_keep_only_rgb():
    _, planned = reproduce_lib.plan("table3", tiny_recipe(), rows=["refinenet101-rgb", "cen-pspnet152"])
    (_, rgb_only), (_, pspnet) = planned
    assert list(rgb_only.data.modalities) == ["rgb"] and rgb_only.model.exchange.scope is None
    assert pspnet.model.architecture == "pspnet" and list(pspnet.data.modalities) == ["rgb", "depth"]
    with pytest.raises(ConfigError, match="data.inputs must name some of"):
        reproduce_lib.plan("table3", tiny_recipe(), overrides=["data.inputs=thermal"], rows=["cen-refinenet101"])


def test_a_row_run_with_other_values_is_not_reused(tmp_path):
    out, data_dir = tmp_path / "table1", str(tmp_path / "tfds")
    reproduce_lib.reproduce(
        "table1", tiny_recipe(epochs=(1,)), out, rows=ROWS[:1], data_dir=data_dir, verbose=0, log=quiet
    )
    other_values = r"row 'shared-private-none-off': .* other values for \['train.epochs'\]"
    with pytest.raises(ConfigError, match=other_values):
        reproduce_lib.reproduce(
            "table1", tiny_recipe(epochs=(2,)), out, rows=ROWS[:1], data_dir=data_dir, verbose=0, log=quiet
        )


def test_cli_dry_run_lists_rows_and_fusion_tables_report_parameters(tmp_path):
    result = CliRunner().invoke(cli, ["reproduce", "table2", "--recipe", "synthetic_rgbd", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "concat-early-unshared" in result.output and "model.fusion.method=concat" in result.output
    bad = CliRunner().invoke(cli, ["reproduce", "table1", "--recipe", "synthetic_rgbd", "--rows", "x", "--dry-run"])
    assert bad.exit_code == 1 and "table1 has no rows ['x']" in bad.output


def test_run_summaries_name_the_fusion():
    from cenkeras.config import describe_fusion

    _, planned = reproduce_lib.plan("table1", tiny_recipe(), rows=["shared-private-half-on", "random-30"])
    assert [describe_fusion(recipe.model) for _, recipe in planned] == [
        "channel exchange (threshold)",
        "channel exchange (random, 30% of each part)",
    ]
    _, ((_, concat),) = reproduce_lib.plan("table2", tiny_recipe(), rows=["concat-late-shared"])
    assert describe_fusion(concat.model) == "concat at late stage(s), no exchange"


def test_translation_tables_run_and_report_l1_and_fusion_parameters(tmp_path):
    recipe = tiny_translation_recipe()
    results = reproduce_lib.reproduce(
        "table4",
        recipe,
        tmp_path / "table4",
        rows=["shade-texture-concat-early-shared"],
        data_dir=str(tmp_path / "tfds"),
        verbose=0,
        log=quiet,
    )
    (row,) = results["rows"]
    assert row["fusion_parameters"] == 2 * 4 * 4 + 4  # 1x1 conv over the 2 streams' 4 channels
    assert set(row["scores"]) == {"shade", "texture", "ensemble"} and row["scores"]["ensemble"]["l1"] > 0
    markdown = (tmp_path / "table4" / "table4.md").read_text()
    assert "| 1 | shade + texture: concat (early), our setting (shared convs, private norms) |" in markdown
    assert "ensemble L1" in markdown and "| 36 |" in markdown


def test_a_diverged_row_is_left_out_and_the_others_run(tmp_path, monkeypatch):
    from cenkeras.training.callbacks import TrainingDiverged
    from cenkeras.tasks import get_task

    segmentation = get_task("segmentation")

    train = segmentation.train

    def diverge_on_fixed(row_recipe, run_dir, **kwargs):
        if run_dir.name == "fixed-30":
            raise TrainingDiverged("training stopped: the loss was nan at epoch 1, step 2.")
        return train(row_recipe, run_dir, **kwargs)

    monkeypatch.setattr(segmentation, "train", diverge_on_fixed)
    messages = []
    results = reproduce_lib.reproduce(
        "table1",
        tiny_recipe(epochs=(1,)),
        tmp_path / "t1",
        rows=ROWS[1:],
        data_dir=str(tmp_path / "tfds"),
        verbose=0,
        log=messages.append,
    )
    assert [row["key"] for row in results["rows"]] == ["shared-private-half-on"]
    assert "loss was nan" in results["diverged"]["fixed-30"]
    assert any("fixed-30: diverged, left out of the table" in m for m in messages)


def test_rows_with_different_outputs_share_one_table(tmp_path):
    """table5's rows add input domains: every output gets a column, a row without it shows "–"."""

    def scores(*domains):
        return {name: {"l1": 0.1 * (i + 1)} for i, name in enumerate([*domains, "ensemble"])}

    table = TABLES["table5"]
    results = {
        "rows": [
            {
                "key": "shade-texture",
                "label": "shade + texture",
                "parameters": 54_400_000,
                "fusion_parameters": 0,
                "seconds": 60.0,
                "scores": scores("shade", "texture"),
            },
            {
                "key": "shade",
                "label": "shade",
                "parameters": 54_400,
                "fusion_parameters": 0,
                "seconds": 30.0,
                "scores": scores("shade"),
            },
        ]
    }
    lines = reproduce_lib.format_markdown(table, results).splitlines()
    assert lines[2] == "| # | row | shade L1 | texture L1 | ensemble L1 | params | fusion params | paper |"
    assert lines[4] == "| 1 | shade + texture | 0.1000 | 0.2000 | 0.3000 | 54.4M | 0 | – |"
    assert lines[5] == "| 2 | shade | 0.1000 | – | 0.2000 | 54,400 | 0 | – |"
    assert lines[-3].startswith("paper: the published figures")
    assert lines[-1] == "Training + evaluation time of the rows: 1.5 min."
    assert reproduce_lib.chart(table, results, tmp_path / "table5.png").stat().st_size > 1000


# Taskonomy's names of the domains the paper's translation tables use (taskonomy.stanford.edu).
TASKONOMY_NAMES = {"reshading", "edge_texture", "depth_euclidean", "depth_zbuffer", "normal", "rgb"}


@pytest.mark.parametrize("recipe_name", ["taskonomy_shade_texture_to_rgb", "taskonomy_four_to_rgb"])
def test_translation_table_rows_make_valid_taskonomy_recipes(recipe_name):
    """The paper's rows (Table 5: each domain alone, then depth + normal, + texture, + shade;
    Table 4: both input pairs), in Taskonomy's domain names, every row recipe valid."""
    from cenkeras import config as config_lib

    recipe = load_recipe(recipe_name)
    _, planned = reproduce_lib.plan("table5", recipe)
    assert [row_recipe.data.domains for _, row_recipe in planned] == [
        ("depth_euclidean", "rgb"),
        ("normal", "rgb"),
        ("edge_texture", "rgb"),
        ("reshading", "rgb"),
        ("depth_euclidean", "normal", "rgb"),
        ("depth_euclidean", "normal", "edge_texture", "rgb"),
        ("depth_euclidean", "normal", "edge_texture", "reshading", "rgb"),
    ]
    _, planned = reproduce_lib.plan("table4", recipe)
    pairs = {row_recipe.data.domains for _, row_recipe in planned}
    assert pairs == {("reshading", "edge_texture", "rgb"), ("depth_euclidean", "normal", "rgb")}
    assert len(planned) == 2 * 17  # per pair: concat, average, align and self-attention at 4 stages, and CEN
    papers = {row.key: row.paper[0].describe() for row, _ in planned if row.paper}
    assert len(papers) == len(planned)  # Table 4 publishes every row
    assert papers["shade-texture-cen-shared"] == "Taskonomy: 62.63 / 1.65 FID / KID×100 (Table 4)"
    for _, row_recipe in planned:
        config_lib.validate(row_recipe)
        assert set(row_recipe.data.domains) <= TASKONOMY_NAMES
    synthetic = [r.data.domains for _, r in reproduce_lib.plan("table5", load_recipe("synthetic_translation"))[1]]
    assert synthetic[-1] == ("depth", "normal", "texture", "shade", "rgb")


def test_paper_domains_must_name_the_four_domains():
    from cenkeras import config as config_lib

    recipe = load_recipe("synthetic_translation")
    recipe.data.paper_domains = {"shade": "reshading"}
    with pytest.raises(ConfigError, match="data.paper_domains must name each of"):
        config_lib.validate(recipe)


def test_seeds_run_each_row_per_seed_reuse_finished_seeds_and_print_mean_and_std(tmp_path, monkeypatch):
    """`seeds=N`: each row with train.seed, +1, ..., the recipe's own seed in OUT/<key> (a table
    run without seeds is reused), the others in OUT/<key>.seed<N>; the table prints mean ± std,
    the JSON each seed's scores; a reused (multi-scale) row evaluates each seed's run. Under the
    table, the protocol line: what every row shares, then what differs, seeds included."""
    import numpy as np

    from cenkeras.tasks import get_task

    segmentation = get_task("segmentation")
    trained, train = [], segmentation.train

    def record(row_recipe, run_dir, **kwargs):
        trained.append((run_dir.name, row_recipe.train.seed))
        return train(row_recipe, run_dir, **kwargs)

    monkeypatch.setattr(segmentation, "train", record)
    out, data_dir = tmp_path / "table3", str(tmp_path / "tfds")
    recipe = tiny_recipe(epochs=(1,))
    recipe.train.seed = 7
    options = dict(rows=["cen-refinenet101-ms"], data_dir=data_dir, verbose=0, log=quiet)
    one = reproduce_lib.reproduce("table3", recipe, out, **options)
    assert trained == [("cen-refinenet101", 7)]
    assert "seeds 1 seed (7)" in (out / "table3.md").read_text()
    assert "±" not in (out / "table3.md").read_text()

    trained.clear()
    results = reproduce_lib.reproduce("table3", recipe, out, seeds=2, **options)
    assert trained == [("cen-refinenet101.seed8", 8)]  # seed 7 was run: kept
    assert RunDirectory(out / "cen-refinenet101.seed8").load_recipe().train.seed == 8
    assert (out / "cen-refinenet101-ms.seed8" / "eval.json").exists()
    single, multi = results["rows"][:2]
    assert single["seeds"] == [7, 8] and multi["seeds"] == [7, 8]
    seven = one["rows"][0]["scores"]["ensemble"]["mean_iou"]
    eight = json.loads((out / "cen-refinenet101.seed8" / "eval.json").read_text())["scores"]["ensemble"]["mean_iou"]
    assert single["scores_by_seed"]["7"]["ensemble"]["mean_iou"] == seven
    assert single["scores"]["ensemble"]["mean_iou"] == pytest.approx((seven + eight) / 2)
    assert single["std"]["ensemble"]["mean_iou"] == pytest.approx(np.std([seven, eight], ddof=1))
    markdown = (out / "table3.md").read_text()
    mean, spread = 100 * single["scores"]["ensemble"]["mean_iou"], 100 * single["std"]["ensemble"]["mean_iou"]
    assert f"| {mean:.2f} ± {spread:.2f} |" in markdown
    protocol = next(line for line in markdown.splitlines() if line.startswith("Protocol of every row:"))
    assert "validation synthetic scenes, 4 images" in protocol and "epochs 1; batch 4; precision float32" in protocol
    assert "seeds 2 seeds (7, 8), mean ± std" in protocol and "headline the ensemble output's scores" in protocol
    by_row = next(line for line in markdown.splitlines() if line.startswith("By row:"))
    assert "single-scale (scales 1, no flip), logits upsampled bilinear (row 1)" in by_row
    assert "refinenet (scales 0.4, 0.6, 0.8, 1, 1.2, no flip), logits upsampled bilinear (row 2)" in by_row

    trained.clear()
    reproduce_lib.reproduce("table3", recipe, out, seeds=2, **options)
    assert trained == []  # every seed of every row finished: nothing runs again


def test_dry_run_lists_the_rows_as_they_will_run_through_the_console_script():
    """Placeholders filled in with the recipe's names and schedule; the seeds in the header."""
    from harness import run_cli

    done = run_cli("reproduce", "table5", "--recipe", "taskonomy_shade_texture_to_rgb", "--dry-run", "--seeds", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "7 rows x 3 seeds under runs/taskonomy_shade_texture_to_rgb-table5" in done.stdout
    assert "data.domains=depth_euclidean,normal,rgb" in done.stdout and "{" not in done.stdout
    done = run_cli("reproduce", "table3", "--recipe", "nyudv2_refinenet101", "--dry-run")
    pspnet = next(line for line in done.stdout.splitlines() if line.strip().startswith("cen-pspnet152 "))
    assert "model.depth=152 train.epochs=150,150,150" in pspnet
    assert "(published, not run)" not in done.stdout  # context rows are not listed as runs
