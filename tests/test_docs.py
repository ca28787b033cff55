"""The documentation: the generated key reference covers every key, the changelog every renamed
key, the README stays a landing page, and neither speaks of how the work was organised."""

import re

import pytest

from cenkeras.config.listing import settable_lines
from cenkeras.config.reference import KEY_HELP, reference_markdown, reference_rows
from cenkeras.experiments.recipe_files import builtin_recipes, load_recipe
from cenkeras.tasks import task_for
from cenkeras.utils.renamed_keys import RENAMED_KEYS
from harness import REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def reference_key(key):
    """`data.modalities.depth.scale` -> `data.modalities.<name>.scale`, as the reference writes it."""
    return re.sub(r"^data\.modalities\.[^.]+\.", "data.modalities.<name>.", key)


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_the_reference_describes_every_key_of_every_builtin_recipe(name):
    recipe = load_recipe(name)
    documented = {row.key for row in reference_rows(task_for(recipe).name)}
    keys = {line.split("=", 1)[0] for line in settable_lines(recipe) if not line.startswith("#")}
    assert {reference_key(key) for key in keys} - documented == set()


def test_every_help_entry_is_a_key_of_the_schema():
    keys = {row.key for task in ("segmentation", "translation") for row in reference_rows(task)}
    stale = {entry.split(":", 1)[-1] for entry in KEY_HELP} - keys
    assert stale == set()


def test_a_key_without_help_is_an_error_naming_it(monkeypatch):
    monkeypatch.delitem(KEY_HELP, "train.momentum")
    with pytest.raises(KeyError, match=r"train.momentum \(segmentation\) has no entry"):
        reference_rows("segmentation")


def test_the_reference_markdown_has_one_row_per_key_with_its_default():
    text = reference_markdown()
    assert "| `model.exchange.threshold` | float | `0.02` | paper |" in text  # segmentation's theta
    assert "| `model.exchange.threshold` | float | `0.01` | paper |" in text  # translation's
    assert "| `model.decoder.pyramid_bins` | ints (comma-separated) | `1,2,3,6` | PSPNet |" in text
    assert "\\|gamma\\|" in text  # a pipe inside a cell is escaped, not a new column
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert len(rows) == len(reference_rows("segmentation")) + len(reference_rows("translation"))


def test_the_changelog_lists_every_renamed_key():
    changelog = (DOCS / "changelog.md").read_text()
    for old, new in RENAMED_KEYS.items():
        assert re.search(rf"\| `{re.escape(old)}`[^|]*\| `{re.escape(new)}` \|", changelog), old


def test_the_readme_is_a_landing_page_of_at_most_200_lines():
    readme = (REPO_ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO_ROOT / link).exists(), link


WORK_LOG = re.compile(
    r"\bissue #?\d+|\bissues? notes?\b|\bsessions?\b|\bthis round\b|\bthe run before\b|\blent\b|\bwork log\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO_ROOT)) for p in PAGES])
def test_no_page_speaks_of_how_the_work_was_organised(page):
    assert WORK_LOG.findall(page.read_text()) == []


def test_results_pages_are_named_by_date_and_machine():
    pages = [p.name for p in (DOCS / "performance").glob("*.md") if p.name != "index.md"]
    assert pages and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.md", name) for name in pages), pages
    index = (DOCS / "performance" / "index.md").read_text()
    assert all(f"({name})" in index for name in pages)
