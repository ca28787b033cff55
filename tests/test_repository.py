"""Habits that keep the code base navigable: the README's Layout lists every module."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_layout_lists_every_module():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    listed = set(re.findall(r"\| `([\w/]+\.py)` \|", layout))
    modules = {str(p.relative_to(ROOT)) for folder in ("cenkeras", "cli") for p in (ROOT / folder).rglob("*.py")}
    modules.add("recipes/__init__.py")
    assert sorted(modules - listed) == [], "modules missing from the README's Layout section"
    assert sorted(listed - modules) == [], "the README's Layout lists modules that do not exist"
