"""The README and docs/ are user documentation: every relative link points at a file in the
repository, nothing refers to a path outside it, and nothing tells how the project was built."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
OUTSIDE = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-]+|/work/[\w./-]*|/home/[\w./-]*|/tmp/[\w./-]*)")
BUILD_TALK = ["the issue asks", "the issue says", "i could not", "i could", "other engineers", "(in progress)",
              "(soon)", "the lead", "helper", "the spec's", "this task"]


def links(text: str) -> list[str]:
    """Relative link targets of a markdown text (no URLs, no in-page anchors)."""
    out = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        out.append(target.split("#", 1)[0])
    return out


def problems(doc: Path, text: str, root: Path = ROOT) -> list[str]:
    found = []
    for target in links(text):
        path = (doc.parent / target).resolve()
        if not path.is_relative_to(root):
            found.append(f"{doc.name}: link {target!r} leaves the repository")
        elif not path.exists():
            found.append(f"{doc.name}: link {target!r} points at a missing file")
    for m in OUTSIDE.finditer(text):
        ref = m.group(1)
        if ref.startswith("../"):  # relative to the document: fine when it stays in the repository and exists
            path = (doc.parent / ref).resolve()
            if path.is_relative_to(root) and path.exists():
                continue
        found.append(f"{doc.name}: refers to {ref!r}, outside the repository")
    low = text.lower()
    for phrase in BUILD_TALK:
        if re.search(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", low):
            found.append(f"{doc.name}: says {phrase!r} (how it was built, not how to use it)")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_documentation_links_and_wording(doc):
    assert problems(doc, doc.read_text(encoding="utf-8")) == []


def test_readme_cites_its_method_documents():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("docs/methods.md", "docs/metrics.md", "docs/datasets.md"):
        assert name in links(text), f"README does not link {name}"


def test_the_checker_catches_what_it_should(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("x")
    doc = tmp_path / "README.md"
    bad = ("See [a](docs/here.md), [b](docs/missing.md), [c](../elsewhere.md), ![p](docs/pic.png), "
           "[web](https://example.org/x) and [top](#set-up). Data in ../shared/data. The issue asks for it.")
    found = problems(doc, bad, root=tmp_path)
    assert any("docs/missing.md" in f and "missing" in f for f in found)
    assert any("../elsewhere.md" in f and "leaves" in f for f in found)
    assert any("docs/pic.png" in f for f in found)
    assert any("../shared" in f for f in found)
    assert any("the issue asks" in f for f in found)
    assert not any("docs/here.md" in f or "example.org" in f or "#set-up" in f for f in found)
    # a document in docs/ may point up into the repository, not past it
    (tmp_path / "benchmarks").mkdir()
    inner = tmp_path / "docs" / "here.md"
    assert problems(inner, "[r](../benchmarks) and ../README.md", root=tmp_path) == [
        "here.md: refers to '../README.md', outside the repository"]
    assert problems(inner, "see ../../shared/data", root=tmp_path) == [
        "here.md: refers to '../../shared', outside the repository"]


RESULTS = re.compile(r"benchmarks/results/[\w.\-/]+?\.(?:md|json|png|csv)")


def cited_results(text: str) -> list[str]:
    """Results files a text cites (``benchmarks/results/...``), links or not; a sentence that says
    a command *writes* the file names an output to come, not a measurement, and is left out."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return [m for s in sentences if "writes" not in s for m in RESULTS.findall(s)]


@pytest.mark.parametrize("doc", [*DOCS, *sorted((ROOT / "src").rglob("*.py"))], ids=lambda p: p.name)
def test_every_cited_results_file_exists(doc):
    """A figure in the README, the docs or a docstring names the results file it comes from; that
    file must be in the repository (a renamed or never-committed one is caught here)."""
    missing = sorted({p for p in cited_results(doc.read_text(encoding="utf-8")) if not (ROOT / p).exists()})
    assert missing == [], f"{doc.relative_to(ROOT)} cites missing results files: {missing}"


def test_cited_results_checker():
    text = ("see `benchmarks/results/a.md` and [b](benchmarks/results/dir/b.json).\nThe command\nwrites "
            "`benchmarks/results/c.md`\nunattended. Then `benchmarks/results/d.png`.")
    assert cited_results(text) == ["benchmarks/results/a.md", "benchmarks/results/dir/b.json", "benchmarks/results/d.png"]
