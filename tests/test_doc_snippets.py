"""Every snippet in README.md and docs/*.md runs as written.

* ```python blocks: the blocks of one file run in order in one namespace, in a temporary working directory that
  links the repository's input folders (so ``workloads/...`` and ``hw_configs/...`` resolve and outputs land in
  the temporary directory).
* Shell blocks (```, ```console, ```bash, ```sh): every command that starts with ``accelsim `` (also after
  ``&&`` or ``;``, after a ``$ `` prompt) is parsed by the real CLI parser, and its arguments that look like
  repository paths must exist.

A block that cannot run here is preceded by the marker line ``<!-- snippet: skip (reason) -->``; the skipped
blocks are counted and reported (a warning per file, and a cap on their number).
"""
from __future__ import annotations

import argparse
import re
import shlex
import sys
import types
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

from accelsim.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARKER = re.compile(r"^<!--\s*snippet:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")
FENCE = re.compile(r"^```(?P<lang>[\w+-]*)\s*$")
SHELL_LANGS = {"", "console", "bash", "sh", "shell"}
REPO_INPUT_DIRS = ("hw_configs", "workloads", "sweeps", "notebooks", "benchmarks", "training", "docs", "tests")
MAX_SKIPPED = 4
"""Blocks that need something a test cannot provide (a user's file, a Dask scheduler) must stay few."""


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def extract_blocks(path: Path) -> list[Block]:
    """The fenced blocks of ``path``, each with the skip reason of a marker on the line before its fence."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        previous = lines[index - 1].strip() if index > 0 else ""
        marker = SKIP_MARKER.match(previous)
        blocks.append(Block(path, index + 1, match["lang"], "\n".join(lines[index + 1:end]) + "\n",
                            marker["reason"] if marker else None))
        index = end + 1
    return blocks


def accelsim_commands(code: str) -> list[list[str]]:
    """Argument lists of the ``accelsim`` commands in a shell block (comments, redirections and pipes dropped)."""
    commands: list[list[str]] = []
    for raw in code.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if line.startswith("accelsim ") and "[" in line.split("#", 1)[0]:  # a usage synopsis: `[A|B]` is no pipe
            commands.append(line.split("#", 1)[0].split()[1:])
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        command: list[str] = []
        drop_next = False  # the target of a redirection
        for token in [*lexer, ";"]:
            if token and set(token) <= set("<>"):
                drop_next = True
            elif token and set(token) <= set(";&|"):  # ; && || | end a command
                if command[:1] == ["accelsim"]:
                    commands.append(command[1:])
                command = []
            elif drop_next:
                drop_next = False
            else:
                command.append(token)
    return commands


def _blocks_by_file() -> dict[Path, list[Block]]:
    return {path: extract_blocks(path) for path in DOC_FILES}


BLOCKS = _blocks_by_file()
PYTHON_FILES = [path for path, blocks in BLOCKS.items() if any(b.lang == "python" for b in blocks)]
SHELL_BLOCKS = [b for blocks in BLOCKS.values() for b in blocks if b.lang in SHELL_LANGS]


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_extractor_on_a_known_document(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n```python\nx = 1\n```\n<!-- snippet: skip (needs a Dask scheduler) -->\n```bash\n"
                   "accelsim run a.yaml b.yaml --csv out.csv   # comment\n$ pip install . && accelsim info x\n"
                   "accelsim schema > hw.json\n```\n")
    python_block, shell_block = extract_blocks(doc)
    assert (python_block.lang, python_block.code, python_block.skip_reason) == ("python", "x = 1\n", None)
    assert (shell_block.lang, shell_block.line, shell_block.skip_reason) == ("bash", 6, "needs a Dask scheduler")
    assert accelsim_commands(shell_block.code) == [["run", "a.yaml", "b.yaml", "--csv", "out.csv"], ["info", "x"],
                                                   ["schema"]]


def test_synopsis_options_are_checked_against_the_parser():
    (synopsis,) = accelsim_commands("accelsim sweep SPEC.yaml --out DIR [--workers N] [--dask ADDRESS|local]\n")
    assert is_synopsis(synopsis) and synopsis[-1] == "ADDRESS|local]"
    options = subcommand_options(build_parser(), "sweep")
    assert {"--out", "--workers", "--dask"} <= options and "--bogus" not in options


def test_docs_have_snippets():
    assert PYTHON_FILES and SHELL_BLOCKS
    assert sum(len(accelsim_commands(b.code)) for b in SHELL_BLOCKS) >= 10


@pytest.fixture
def docs_cwd(tmp_path, monkeypatch):
    """A temporary working directory in which the repository's input folders resolve (as symlinks)."""
    for name in REPO_INPUT_DIRS:
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", PYTHON_FILES, ids=_ids)
def test_python_snippets_run(path, docs_cwd, monkeypatch):
    module = types.ModuleType("accelsim_doc_snippet")  # a real module, so dataclasses defined in a snippet work
    monkeypatch.setitem(sys.modules, module.__name__, module)
    skipped = []
    for block in BLOCKS[path]:
        if block.lang != "python":
            continue
        if block.skip_reason:
            skipped.append(f"{block.where} ({block.skip_reason})")
            continue
        try:
            exec(compile(block.code, block.where, "exec"), module.__dict__)  # noqa: S102 - the docs' own snippets
        except Exception as error:  # report which snippet broke, with its traceback chained
            raise AssertionError(f"snippet {block.where} failed: {type(error).__name__}: {error}") from error
    if skipped:
        warnings.warn(f"{len(skipped)} python snippet(s) skipped: {'; '.join(skipped)}", stacklevel=1)


def is_synopsis(args: list[str]) -> bool:
    """A usage line such as ``accelsim sweep SPEC.yaml --out DIR [--workers N]`` (optional parts in brackets)."""
    return any(arg.startswith("[") for arg in args)


def subcommand_options(parser: argparse.ArgumentParser, command: str) -> set[str]:
    """The option strings (``--out``, ``-h``, ...) of one subcommand of the CLI parser."""
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
    assert command in subparsers.choices, f"`accelsim {command}` is not a command"
    return {option for action in subparsers.choices[command]._actions for option in action.option_strings}


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.where)
def test_accelsim_commands_parse(block):
    """Commands parse with the real CLI parser; in a usage synopsis every option must exist."""
    if block.skip_reason:
        pytest.skip(f"marked: {block.skip_reason}")
    parser = build_parser()
    for args in accelsim_commands(block.code):
        if is_synopsis(args):
            options = {token.strip("[]").split("=")[0] for token in args if token.strip("[").startswith("-")}
            unknown = options - subcommand_options(parser, args[0])
            assert not unknown, f"{block.where}: `accelsim {args[0]}` has no option(s) {sorted(unknown)}"
            continue
        try:
            parser.parse_args(args)
        except SystemExit as exit_:
            assert exit_.code == 0, f"{block.where}: `accelsim {shlex.join(args)}` is rejected by the CLI parser"
        for arg in args:
            if arg.split("/", 1)[0] in REPO_INPUT_DIRS:
                assert (ROOT / arg).exists(), f"{block.where}: `accelsim {shlex.join(args)}` names missing {arg}"


def test_skipped_snippets_are_few(record_property):
    skipped = [b.where + f" ({b.skip_reason})" for blocks in BLOCKS.values() for b in blocks if b.skip_reason]
    record_property("skipped_snippets", len(skipped))  # in the JUnit XML; a warning lists them when there are any
    if skipped:
        warnings.warn(f"{len(skipped)} doc snippet(s) marked skip: {'; '.join(skipped)}", stacklevel=1)
    assert len(skipped) <= MAX_SKIPPED, skipped
