"""Tasks behind one interface: the registry, and what every task provides."""

import dataclasses
import sys
import types

import pytest

from cenkeras import config as config_lib
from cenkeras.config import ConfigError, recipe_from_dict, to_dict
from cenkeras.experiments.recipe_files import load_recipe
from cenkeras.tasks import TASKS, get_task, task_for
from cenkeras.tasks.base import Task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_fills_in_the_interface(name):
    task = get_task(name)
    assert task.name == name and task.recipe_class().task == name
    assert task.monitor.startswith("val_") and task.monitor_mode in ("min", "max")
    assert task.table_metrics and task.chart_metric([key for key, _ in task.table_metrics])
    for method in (
        "build_network",
        "training_data",
        "build_trainer",
        "evaluate",
        "summary",
        "format_results",
        "serving_module",
    ):
        assert getattr(type(task), method) is not getattr(Task, method), f"{name} lacks {method}"
    summary = task.summary(task.recipe_class())
    assert summary and all(isinstance(key, str) for key in summary)


def test_unknown_task_and_wrong_recipe_class_are_named():
    with pytest.raises(ConfigError, match="unknown task 'detection'.*segmentation"):
        get_task("detection")
    recipe = load_recipe("synthetic_rgbd")
    recipe.task = "translation"
    with pytest.raises(ConfigError, match="translation recipe must be a TranslationRecipe, got Recipe"):
        task_for(recipe)


def test_evaluation_options_of_another_task_are_refused():
    get_task("segmentation").check_evaluation_options({"multi_scale": True, "flip": None})
    with pytest.raises(ConfigError, match=r"translation runs take no evaluation option \['multi_scale'\]"):
        get_task("translation").check_evaluation_options({"multi_scale": True})
    with pytest.raises(ConfigError, match=r"segmentation runs take no evaluation option \['inception_weights'\]"):
        get_task("segmentation").check_evaluation_options({"inception_weights": "i.h5"})


def test_a_new_task_is_one_module_and_one_registry_line(monkeypatch):
    """A third task: its recipe class and Task subclass in a module, one TASKS entry; recipes of it
    then load from recipe.json, validate and reach their task like the built-in ones."""

    @dataclasses.dataclass
    class CountingRecipe:
        name: str = "count"
        task: str = "counting"
        limit: int = 3

        def validate(self):
            if self.limit < 1:
                raise ConfigError(f"limit must be >= 1, got {self.limit}.")
            return self

    class CountingTask(Task):
        name = "counting"
        recipe_class = CountingRecipe

        def summary(self, recipe):
            return {"limit": recipe.limit}

    module = types.ModuleType("counting_task")
    module.CountingTask = CountingTask
    monkeypatch.setitem(sys.modules, "counting_task", module)
    monkeypatch.setitem(TASKS, "counting", "counting_task:CountingTask")

    recipe = recipe_from_dict(to_dict(CountingRecipe(limit=5)))
    assert recipe == CountingRecipe(limit=5)
    assert task_for(recipe).summary(recipe) == {"limit": 5}
    assert config_lib.apply_overrides(recipe, ["limit=7"]).limit == 7
    with pytest.raises(ConfigError, match="limit must be >= 1"):
        config_lib.apply_overrides(recipe, ["limit=0"])


@pytest.mark.parametrize("task_name", ["segmentation", "translation"])
def test_the_protocol_says_which_checkpoint_an_evaluation_scored(task_name):
    task = get_task(task_name)
    recipe = task.recipe_class()
    evaluation = {"samples": 4, "scales": [1.0], "flip": False}
    best = task.protocol(recipe, {**evaluation, "weights": "/runs/a/checkpoints/best.weights.h5"})
    last = task.protocol(recipe, {**evaluation, "weights": "/runs/a/checkpoints/last.weights.h5"})
    assert best["checkpoint"].startswith(("best", "ensemble L1")) and last["checkpoint"] == "last epoch"
