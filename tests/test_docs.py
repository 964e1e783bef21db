"""The README and docs/ are checked like code: every relative link resolves to a file (and
anchor), every test they name exists where they say, the README's test command is the one
CI runs, and every `train.py` / `evaluate.py` / `pretrain.py` command in the README composes
with Hydra (an override of a key that does not exist fails), so they cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import compose_config
from hydra.core.override_parser.overrides_parser import OverridesParser

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
TEST_COMMAND = "ruff check . && lint-imports && pytest -n 2"
# `test_train::test_x`, `tests/io/test_lock.py::test_x`, and `::test_y` (the same file again)
TEST_REFERENCE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+?(?:\.py)?)?::(test_\w+)")


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped,
    spaces as hyphens."""
    heads = re.findall(r"^#+\s+(.+)$", path.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        missing_anchor = anchor and path.suffix == ".md" and anchor not in anchors(path)
        if not path.exists() or missing_anchor:
            broken.append(target)
    assert not broken, f"{doc.name}: links that resolve to nothing: {broken}"


def functions_in(file: Path) -> set[str]:
    return set(re.findall(r"^def (test_\w+)", file.read_text(), flags=re.M))


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_test_a_doc_names_is_in_the_file_it_names(doc: Path) -> None:
    """docs/errors.md names a test for every refusal: a renamed or moved test must not leave
    the claim pointing at nothing."""
    files = sorted((ROOT / "tests").rglob("test_*.py"))
    missing, file = [], None
    for module, name in TEST_REFERENCE.findall(doc.read_text()):
        file = module or file  # a bare `::test_y` is in the file named before it
        stem = Path(file).name.removesuffix(".py")
        named = [
            f
            for f in files
            if f.stem == stem and (not file.startswith("tests/") or f == ROOT / file)
        ]
        if not any(name in functions_in(f) for f in named):
            missing.append(f"{file}::{name}")
    assert not missing, f"{doc.name} names tests that are not there: {missing}"


def test_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"^{re.escape(TEST_COMMAND)}(\s+#.*)?$", ci, flags=re.M), ci
    assert f'pip install -e ".[dev]" && {TEST_COMMAND}' in readme


# python train.py ARGS, in a code block (up to a comment or `&&`) or inline (up to the backtick)
HYDRA_COMMAND = re.compile(r"python (train|evaluate|pretrain)\.py([^`\n#&|]*)")
FLAGS_WITH_VALUE = ("--cfg", "-c", "--config-dir", "-cd", "--package", "-p")
# The config folders the README's commands name, with the files it says they hold.
CONFIG_DIRS = {"/my/conf": {"data/mine.yaml": "defaults:\n  - text_files\n"}}


def readme_commands() -> list[tuple[str, list[str]]]:
    """(script, its arguments) of every Hydra command in the README."""
    text = re.sub(r"<[\w ]+>", "x", (ROOT / "README.md").read_text())  # <run>: a name given
    return [(script, args.split()) for script, args in HYDRA_COMMAND.findall(text)]


def runs_of(args: list[str]) -> list[list[str]]:
    """The override lists one command composes: a sweep's (`-m a=1,2 b=x,y`) gives one per
    value of its longest sweep, so every value is composed once. Flags (`--help`, `-m`) and
    `resume=` (expanded before Hydra, tests/runs/test_resume.py) are left out."""
    overrides, skip = [], False
    for arg in args:
        if skip or arg.startswith("-") or arg.startswith("resume="):
            skip = arg in FLAGS_WITH_VALUE
            continue
        overrides.append(arg)
    parsed = OverridesParser.create().parse_overrides(overrides)
    values = [
        list(o.sweep_string_iterator())
        if o.is_sweep_override()
        else [o.input_line.split("=", 1)[1]]
        for o in parsed
    ]
    longest = max((len(v) for v in values), default=1)
    return [
        [f"{o.input_line.split('=', 1)[0]}={v[i % len(v)]}" for o, v in zip(parsed, values)]
        for i in range(longest)
    ]


def config_dir_of(args: list[str], tmp_path: Path) -> list[str]:
    """`--config-dir D` as the search path override compose takes, with D's files made."""
    if "--config-dir" not in args:
        return []
    folder = tmp_path / "config_dir"
    for name, text in CONFIG_DIRS[args[args.index("--config-dir") + 1]].items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return [f"hydra.searchpath=[file://{folder}]"]


@pytest.mark.parametrize(
    "script, args", readme_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_readme_command_composes(script, args, tmp_path):
    """Hydra refuses a command before it runs (`data.path=` where the key is not in the
    config: evaluate.py needs `+data.path=`), so composing it is the check."""
    for overrides in runs_of(args):
        compose_config([*overrides, *config_dir_of(args, tmp_path)], tmp_path, script)


def test_the_check_catches_a_key_that_does_not_exist(tmp_path):
    with pytest.raises(Exception, match="path"):
        compose_config(["ckpt_path=x.ckpt", "data.path=/elsewhere"], tmp_path, "evaluate")
