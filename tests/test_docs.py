"""The README and docs/ are checked like code: every relative link resolves to a file (and
anchor), every test they name exists where they say, and the README's test command is the one
CI runs, so the two cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
