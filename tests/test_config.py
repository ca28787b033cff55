"""Recipes, `--set` overrides and their errors."""

import json

import pytest

from cenkeras import config as config_lib
from cenkeras.config import (
    ConfigError,
    TranslationRecipe,
    apply_overrides,
    recipe_from_dict,
    to_dict,
)
from cenkeras.experiments.recipe_files import builtin_recipes, load_recipe
from cenkeras.tasks import get_task


def test_builtin_recipes_are_listed_and_load():
    names = builtin_recipes()
    assert set(names) >= {"synthetic_rgbd", "nyudv2_refinenet101", "nyudv2_refinenet152", "sunrgbd_refinenet101"}
    assert {
        "synthetic_translation",
        "taskonomy_shade_texture_to_rgb",
        "taskonomy_depth_normal_to_rgb",
        "taskonomy_four_to_rgb",
    } <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert isinstance(recipe, get_task(recipe.task).recipe_class) and recipe.name == name
    assert len(load_recipe("taskonomy_four_to_rgb").data.domains) == 5


def test_translation_recipe_overrides_and_json_round_trip():
    recipe = apply_overrides(
        load_recipe("taskonomy_shade_texture_to_rgb"), ["data.domains=reshading,normal,rgb", "train.lr_generator=1e-4"]
    )
    assert recipe.data.domains == ("reshading", "normal", "rgb") and recipe.train.lr_generator == 1e-4
    again = recipe_from_dict(json.loads(json.dumps(to_dict(recipe))))
    assert isinstance(again, TranslationRecipe) and again == recipe
    with pytest.raises(ConfigError, match="multiple of 2\\*\\*model.levels"):
        apply_overrides(load_recipe("synthetic_translation"), ["data.crop_size=48"])
    with pytest.raises(ConfigError, match="distinct input domains"):
        apply_overrides(load_recipe("synthetic_translation"), ["data.domains=rgb"])


def test_official_hyperparameters_in_the_nyudv2_recipe():
    recipe = load_recipe("nyudv2_refinenet101")
    assert recipe.train.epochs == (100, 100, 100)
    assert recipe.train.lr_encoder == (5e-4, 2.5e-4, 1e-4)
    assert recipe.train.lr_decoder == (3e-3, 1.5e-3, 7e-4)
    assert recipe.train.batch_size == 6 and recipe.train.freeze_bn
    assert recipe.model.exchange.threshold == 2e-2 and recipe.train.sparsity == 2e-4
    assert load_recipe("nyudv2_refinenet152").train.epochs == (150, 150, 150)


def test_overrides_parse_each_type():
    recipe = apply_overrides(
        load_recipe("synthetic_rgbd"),
        [
            "train.epochs=3,2",
            "train.lr_encoder=[0.1, 0.01]",
            "train.lr_decoder=0.2,0.02",
            "train.freeze_bn=true",
            "train.batch_size=4",
            "model.exchange=none",
            "model.stage_blocks=2,1,1,1",
            "data.modalities.depth.scale=0.001",
            "eval.flip=no",
        ],
    )
    assert recipe.train.epochs == (3, 2) and recipe.train.lr_encoder == (0.1, 0.01)
    assert recipe.train.freeze_bn is True and recipe.train.batch_size == 4
    assert recipe.model.exchange.scope is None and recipe.model.stage_blocks == (2, 1, 1, 1)
    assert recipe.data.modalities["depth"].scale == 0.001 and recipe.eval.flip is False


@pytest.mark.parametrize(
    "override,match",
    [
        ("train.epoch=3", "Unknown key 'train.epoch'"),
        ("trian.epochs=3", "recipe has no 'trian'"),
        ("data.modalities.thermal.scale=2", "no 'data.modalities.thermal'"),
        ("train.batch_size=big", "train.batch_size: expected an integer"),
        ("train.momentum=fast", "train.momentum: expected a number"),
        ("train.freeze_bn=maybe", "train.freeze_bn: expected true/false"),
        ("train.precision=float8", "train.precision must be one of"),
        ("model.exchange=half", "model.exchange.scope must be one of"),
        ("train.epochs=3", "one value per stage"),
        ("train.worker_timeout=0", "train.worker_timeout must be >= 1 second"),
        ("model.fusion=sum", "model.fusion.method must be one of"),
        ("model.exchange_portion=2", "model.exchange.portion must be in \\[0, 1\\]"),
        ("train", "must look like key=value"),
        ("data.synthetic=1", "is a section"),
        ("model.num_classes=300", "num_classes"),
        ("eval.multi_scale=deeplab", "eval.multi_scale must be one of \\['refinenet', 'pspnet', 'custom'\\]"),
        ("eval.upsampling=nearest", "eval.upsampling must be one of \\['bilinear', 'bicubic'\\]"),
    ],
)
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        apply_overrides(load_recipe("synthetic_rgbd"), [override])


def test_unknown_recipe_and_bad_recipe_files(tmp_path):
    with pytest.raises(ConfigError, match="unknown recipe 'nyud'"):
        load_recipe("nyud")
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_recipe(str(tmp_path / "missing.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ConfigError, match="broken.py failed to run: RuntimeError: boom"):
        load_recipe(str(broken))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match="must define a function recipe"):
        load_recipe(str(empty))


def test_user_recipe_file_copied_and_edited(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "from cenkeras.recipes.synthetic_rgbd import recipe as base\n"
        "def recipe():\n"
        "    r = base()\n"
        "    r.name = 'mine'\n"
        "    r.train.epochs = (1,)\n    r.train.lr_encoder = (0.1,)\n    r.train.lr_decoder = (0.1,)\n"
        "    return r\n"
    )
    assert load_recipe(str(path)).name == "mine"


def test_json_round_trip():
    recipe = load_recipe("sunrgbd_refinenet101")
    data = json.loads(json.dumps(to_dict(recipe)))
    again = recipe_from_dict(data)
    assert again == recipe
    data["train"]["surprise"] = 1
    with pytest.raises(ConfigError, match="surprise"):
        recipe_from_dict(data)


@pytest.mark.parametrize("name", ["synthetic_rgbd", "synthetic_translation"])
def test_recipes_saved_by_older_versions_still_load(name):
    """A run directory's recipe.json from before data.shuffle_buffer was retired resumes."""
    recipe = load_recipe(name)
    data = json.loads(json.dumps(to_dict(recipe)))
    data["data"]["shuffle_buffer"] = 1000
    assert recipe_from_dict(data) == recipe


def test_list_source_needs_paths():
    recipe = load_recipe("synthetic_rgbd")
    recipe.data.source = "list"
    with pytest.raises(ConfigError, match="data.train_list is required"):
        config_lib.validate(recipe)


def test_each_option_has_one_name_and_the_old_names_still_work():
    """The exchange and the fusion are one object each from recipe to layer; recipe files,
    recipe.json files and --set keys of older versions land on the current names."""
    from cenkeras.config import ExchangeConfig, FusionConfig, ModelConfig, RENAMED_KEYS

    current = apply_overrides(
        load_recipe("synthetic_rgbd"),
        [
            "model.exchange.scope=part",
            "model.exchange.rule=fixed",
            "model.exchange.portion=0.2",
            "model.exchange.threshold=0.03",
            "model.exchange.sparsity_scope=all",
            "model.fusion.method=average",
            "model.fusion.stage=early",
            "model.fusion.alignment_weight=0.5",
            "model.affine_inference=false",
        ],
    )
    old_overrides = [
        f"{old}={value}"
        for old, value in zip(RENAMED_KEYS, ("0.03", "part", "all", "fixed", "0.2", "average", "early", "0.5", "false"))
    ]
    assert apply_overrides(load_recipe("synthetic_rgbd"), old_overrides) == current

    saved = to_dict(load_recipe("synthetic_rgbd"))
    model = saved["model"]
    model.pop("exchange"), model.pop("fusion"), model.pop("affine_inference")
    model.update(
        threshold=0.03,
        exchange="part",
        sparsity_scope="all",
        exchange_rule="fixed",
        exchange_portion=0.2,
        fusion="average",
        fusion_stage="early",
        alignment_weight=0.5,
        affine_norms=False,
    )
    assert recipe_from_dict(json.loads(json.dumps(saved))) == current

    written_then = ModelConfig(
        depth=50, threshold=0.03, exchange=None, exchange_rule="random", fusion="align", affine_norms=False
    )
    assert written_then == ModelConfig(
        depth=50,
        exchange=ExchangeConfig(threshold=0.03, scope=None, rule="random"),
        fusion=FusionConfig("align"),
        affine_inference=False,
    )


def test_evaluation_views_of_each_multi_scale_protocol():
    """RefineNet's protocol (the paper's multi-scale figures) is the default; PSPNet's is named."""
    evaluation = load_recipe("synthetic_rgbd").eval
    assert evaluation.views() == ((1.0,), False)
    assert evaluation.views(True) == ((0.4, 0.6, 0.8, 1.0, 1.2), False)
    assert evaluation.views("pspnet") == ((0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True)
    evaluation.multi_scales, evaluation.flip = (0.75, 1.0), True
    assert evaluation.views("custom") == ((0.75, 1.0), True)
    evaluation.multi_scale = "pspnet"
    assert evaluation.views(True) == ((0.5, 0.75, 1.0, 1.25, 1.5, 1.75), True)
    with pytest.raises(ConfigError, match="multi-scale protocol must be one of"):
        evaluation.views("deeplab")


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_a_recipe_written_as_set_lines_rebuilds_it_from_the_default_recipe(name):
    """`cenkeras recipes NAME` prints the lines; applied to the task's default recipe they give the
    recipe back, value for value (mappings of plain values are comments: no --set key)."""
    from cenkeras.config import Recipe
    from cenkeras.config.listing import settable_lines

    recipe = load_recipe(name)
    lines = settable_lines(recipe)
    default = TranslationRecipe() if recipe.task == "translation" else Recipe()
    if set(recipe.data.__dict__.get("modalities", {})) - {"rgb", "depth"}:
        default.data.modalities = load_recipe(name).data.modalities  # --set sets values, adds no modality
    rebuilt = to_dict(apply_overrides(default, [line for line in lines if not line.startswith("#")]))
    expected = to_dict(recipe)
    for key in ("name", "description"):
        rebuilt.pop(key), expected.pop(key)
    if recipe.task == "translation":
        assert any(line.startswith("# data.paper_domains: ") for line in lines)
        rebuilt["data"].pop("paper_domains"), expected["data"].pop("paper_domains")
    assert rebuilt == expected


def test_recipes_prints_a_recipe_resolved_with_overrides_through_the_console_script():
    from harness import run_cli

    done = run_cli(
        "recipes", "nyudv2_pspnet152", "--set", "train.epochs=1,1,1", "--set", "model.decoder.auxiliary_weight=0"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("# nyudv2_pspnet152 (segmentation): CEN PSPNet-152 on NYUDv2")
    assert {"train.epochs=1,1,1", "model.architecture=pspnet", "model.decoder.auxiliary_weight=0.0"} <= set(lines)
    assert "model.backbone_weights=none" in lines and "eval.upsampling=bicubic" in lines
    wrong = run_cli("recipes", "nyudv2_pspnet152", "--set", "train.epoch=1")
    assert wrong.returncode == 1 and "Unknown key 'train.epoch'" in wrong.stderr
