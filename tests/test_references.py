"""Citations resolve: every ``[ref:KEY]`` in the repository names an entry of docs/references.md, every entry is
complete and used, and no file cites documents that users do not have."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "docs" / "references.md"
SCANNED_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".ipynb", ".toml", ".cfg", ".ini", ".txt", ".csv", ".json"}
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".benchmarks", "results", "build", "dist", ".venv", "venv"}
CITATION = re.compile(r"\[ref:([A-Za-z][A-Za-z0-9_.-]*)\]")
ENTRY = re.compile(r"^- \*\*\[ref:([A-Za-z0-9_.-]+)\]\*\* (?P<text>.+)$")
# Documents that never shipped with the repository; built from parts so that this file does not match itself.
FORBIDDEN = [re.compile(p, re.IGNORECASE) for p in (
    "hardware" + r"-facts", "peers" + r"\.md", "peers" + r" §", "quantized" + r"-arithmetic",
    "validation" + r"-anchors", r"\.\./shared/", "/work" + "/",
)]


def repository_files() -> list[Path]:
    """Text files of the repository that can hold citations (generated and cache folders left out)."""
    return sorted(
        path for path in ROOT.rglob("*")
        if path.is_file() and path.suffix in SCANNED_SUFFIXES
        and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts[:-1])
    )


def reference_entries(text: str) -> dict[str, str]:
    """``{key: entry text}`` of the bibliography (an entry may continue on indented lines)."""
    entries: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            key = match.group(1)
            assert key not in entries, f"docs/references.md defines [ref:{key}] twice"
            entries[key] = match["text"]
        elif key and line.startswith("  "):
            entries[key] += " " + line.strip()
        else:
            key = None
    return entries


ENTRIES = reference_entries(REFERENCES.read_text(encoding="utf-8"))
FILES = repository_files()


def citations() -> dict[str, list[str]]:
    """``{key: ["file:line", ...]}`` of every citation outside the bibliography's own entry lines."""
    found: dict[str, list[str]] = {}
    for path in FILES:
        if path == Path(__file__).resolve():  # this file's patterns and messages are not citations
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if path == REFERENCES and ENTRY.match(line):
                line = ENTRY.sub(r"\g<text>", line)
            for key in CITATION.findall(line):
                found.setdefault(key, []).append(f"{path.relative_to(ROOT)}:{number}")
    return found


CITATIONS = citations()


def test_parsers_on_a_known_text():
    text = ("# References\n\n- **[ref:Horowitz14]** M. Horowitz, \"Computing's energy problem\",\n"
            "  ISSCC 2014, pp. 10-14.\n- **[ref:Jacob18]** B. Jacob et al., CVPR 2018.\n\nprose\n")
    assert reference_entries(text) == {"Horowitz14": "M. Horowitz, \"Computing's energy problem\", ISSCC 2014, "
                                                     "pp. 10-14.", "Jacob18": "B. Jacob et al., CVPR 2018."}
    assert CITATION.findall("as in [ref:Horowitz14] and [ref:Jacob18]; x[0], [refs] no") == ["Horowitz14", "Jacob18"]


def test_bibliography_is_nonempty_and_complete():
    assert len(ENTRIES) >= 20
    for key, text in ENTRIES.items():
        assert len(text) > 60, f"[ref:{key}] is too short to identify its source"
        assert re.search(r"(19|20)\d\d|\d+\.\d+\.\d+|repositor|PyPI", text), f"[ref:{key}] has no year or version"


def test_every_citation_resolves():
    unresolved = {key: where for key, where in CITATIONS.items() if key not in ENTRIES}
    assert not unresolved, f"citation keys missing from docs/references.md: {unresolved}"


def test_citations_are_used_across_the_repository():
    cited_outside = {key for key, where in CITATIONS.items()
                     if any(not w.startswith("docs/references.md:") for w in where)}
    assert len(cited_outside) >= 15
    assert {"Horowitz14", "ScaleSim", "TFLiteRef", "ORT", "QEMUHexagon", "Jouppi17"} <= cited_outside


@pytest.mark.parametrize("pattern", FORBIDDEN, ids=lambda p: p.pattern)
def test_no_file_cites_documents_users_do_not_have(pattern):
    this_file = Path(__file__).resolve()
    hits = [f"{path.relative_to(ROOT)}:{number}" for path in FILES if path != this_file
            for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if pattern.search(line)]
    assert not hits, f"{pattern.pattern!r} found in {hits}"
