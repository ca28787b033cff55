"""Every `cenkeras ...` command the README and the docs show parses, and every `--set` key they
name exists.

Commands are read from the code blocks of README.md and docs/**/*.md (continuation lines joined,
comments cut) and parsed by the CLI itself, without running them; example paths need not exist.
`--set` keys are read from the code blocks and the prose, and set on a recipe of the task they
belong to.
"""

import re
import shlex

import click
import pytest

from cenkeras.cli.main import cli
from cenkeras.config import ConfigError, apply_overrides
from cenkeras.experiments.recipe_files import builtin_recipes, load_recipe
from harness import REPO_ROOT

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
TEXT = "\n".join(path.read_text() for path in DOCUMENTS)


def code_blocks(text):
    """The shell blocks of a markdown text (fences of any language are paired, others left out)."""
    return [body for language, body in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S) if language in SHELL]


SHELL = ("", "bash", "sh", "console")


def documented_commands():
    commands = []
    for block in (block for path in DOCUMENTS for block in code_blocks(path.read_text())):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            if line.startswith("cenkeras "):
                commands.append(shlex.split(line, comments=True))
    return commands


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 40 and {args[1] for args in COMMANDS} >= {"train", "eval", "export", "predict", "reproduce"}


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(args)[:70] for args in COMMANDS])
def test_each_documented_command_parses(args, monkeypatch):
    # Example files (weights, datasets) need not exist here: the parse is what is checked.
    monkeypatch.setattr(click.Path, "convert", lambda self, value, param, ctx: value)
    context = cli.make_context("cenkeras", list(args[1:]))
    name, command, rest = cli.resolve_command(context, context.protected_args + context.args)
    assert command is not None, args
    if isinstance(command, click.Group):  # prepare <dataset>
        inner = command.make_context(name, rest, parent=context)
        name, command, rest = command.resolve_command(inner, inner.protected_args + inner.args)
    command.make_context(name, rest, parent=context)


def recipe_of(args):
    """The recipe a command names (train RECIPE, reproduce --recipe R), if a built-in one."""
    names = set(builtin_recipes())
    for index, arg in enumerate(args):
        if arg in names:
            return arg
        if arg == "--recipe" and index + 1 < len(args) and args[index + 1] in names:
            return args[index + 1]
    return None


def documented_overrides():
    """`(recipe or None, "key=value")` of every --set in the commands and prose of the docs."""
    found = []
    for args in COMMANDS:
        for index, arg in enumerate(args[:-1]):
            if arg == "--set":
                found.append((recipe_of(args), args[index + 1]))
    for match in re.finditer(r"--set ([a-z_][a-z0-9_.]*=[^`\s]*)", TEXT):
        if not match.group(1).startswith("key="):  # `--set key=value`: the syntax itself
            found.append((None, match.group(1)))
    return found


def test_each_documented_set_key_exists():
    unknown = []
    for recipe, override in documented_overrides():
        key = override.split("=", 1)[0]
        candidates = [recipe] if recipe else sorted(builtin_recipes())
        errors = []
        for name in candidates:
            try:
                set_key(load_recipe(name), key, override)
                break
            except ConfigError as error:
                errors.append(str(error))
        else:
            unknown.append((override, errors))
    assert unknown == []


def set_key(recipe, key, override):
    """Apply `override` to `recipe`; a ConfigError only when its key does not exist (a value the
    docs write as a placeholder, such as PATH or ..., names a key all the same)."""
    try:
        apply_overrides(recipe, [override])
    except ConfigError as error:
        if "Unknown key" in str(error) or "is a section" in str(error) or "recipe has no" in str(error):
            raise
