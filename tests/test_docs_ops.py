"""The op lists of docs/onnx.md and docs/tflite.md stay complete: every op type an importer's handler table
handles, and every op kind an exporter writes, is named in the first column of the page's supported-ops tables,
so a new op cannot land undocumented.

Tables are read simply: the rows (lines starting with ``|``) of the named section, first cell, split on commas
and slashes, markup and a trailing "(domain)" removed.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONNX_DOC = ROOT / "docs" / "onnx.md"
TFLITE_DOC = ROOT / "docs" / "tflite.md"


def section(text: str, heading: str) -> str:
    """The text under the heading line ``heading`` (exact, e.g. "### QDQ form") up to the next heading of the
    same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading or line.startswith(heading + " ")
              or line.startswith(heading + ":")]
    assert starts, f"heading {heading!r} not found"
    out = []
    for line in lines[starts[0] + 1:]:
        m = re.match(r"(#+) ", line)
        if m and len(m.group(1)) <= level:
            break
        out.append(line)
    return "\n".join(out)


def first_column_names(text: str) -> set[str]:
    """Op names in the first cell of every table row (header and separator rows included; harmless)."""
    names = set()
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cell = line.split("|")[1]
        cell = re.sub(r"\([^)]*\)", "", cell.replace("`", ""))  # "(com.microsoft)", "(integer bounds)"
        for part in re.split(r"[,/]", cell):
            words = part.split()
            if words:
                names.add(words[0])
    return names


def missing(expected, documented: set[str]) -> list[str]:
    return sorted(op for op in set(expected) if op not in documented)


def test_parsers_on_a_known_text():
    text = "# T\n## A\n| op | x |\n|---|---|\n| Conv, `Gemm` / MatMul | y |\n| QGemm (com.microsoft) | z |\n## B\n| Q |"
    assert first_column_names(section(text, "## A")) == {"op", "---", "Conv", "Gemm", "MatMul", "QGemm"}


# --------------------------------------------------------------------------------------------- ONNX importer
def _onnx_tables():
    pytest.importorskip("onnx")
    from accelsim.graph.importers.onnx import ONNX_HANDLERS

    text = ONNX_DOC.read_text(encoding="utf-8")
    supported = section(text, "## Supported ops")
    # the built-in handlers only: a test or a doc snippet may have registered its own (docs/onnx.md's DocMaxPool)
    builtin = {form: {op: h for op, h in table.items() if getattr(h, "__module__", "").startswith("accelsim.")}
               for form, table in ONNX_HANDLERS.items()}
    return builtin, supported


def test_every_onnx_float_handler_is_in_the_float_ops_table():
    handlers, supported = _onnx_tables()
    documented = first_column_names(section(supported, "### Float ops"))
    gaps = missing(handlers["float"], documented)
    assert not gaps, f"docs/onnx.md, table 'Float ops (default domain)': add a row for ONNX op(s) {gaps}"


def test_every_onnx_quantized_handler_is_in_the_qdq_or_qoperator_table():
    handlers, supported = _onnx_tables()
    documented = (first_column_names(section(supported, "### QDQ form"))
                  | first_column_names(section(supported, "### QOperator form")))
    gaps = missing(handlers["quantized"], documented)
    assert not gaps, f"docs/onnx.md, tables 'QDQ form' / 'QOperator form': add a row for ONNX op(s) {gaps}"


def test_every_supported_onnx_op_is_named_in_supported_ops():
    """SUPPORTED_OPS adds the ops the passes fold (QuantizeLinear, BatchNormalization, Relu, Identity, ...)."""
    _, supported = _onnx_tables()
    from accelsim.graph.importers.onnx import SUPPORTED_OPS

    documented = first_column_names(supported)
    gaps = missing((op.split(" (")[0] for op in SUPPORTED_OPS), documented)
    assert not gaps, f"docs/onnx.md, Supported ops: add a row for ONNX op(s) {gaps}"


# --------------------------------------------------------------------------------------------- TFLite
def _tflite_text() -> str:
    return TFLITE_DOC.read_text(encoding="utf-8")


def test_every_tflite_builtin_the_importer_handles_is_in_the_import_table():
    pytest.importorskip("flatbuffers")
    from accelsim.graph.importers.tflite import EDGE_OPS, SHAPE_ARITHMETIC_OPS, TFLITE_HANDLERS

    documented = first_column_names(section(_tflite_text(), "### Import"))
    gaps = missing([*TFLITE_HANDLERS, *EDGE_OPS, *SHAPE_ARITHMETIC_OPS], documented)
    assert not gaps, f"docs/tflite.md, import table: add a row for TFLite builtin(s) {gaps}"


def test_every_exportable_op_kind_is_in_the_export_table():
    pytest.importorskip("onnx")
    from accelsim.graph.exporters import ONNX_QLINEAR_EXPORTERS, TFLITE_EXPORTERS
    from accelsim.graph.exporters.tflite import NOT_EXPORTABLE
    from accelsim.graph.ops import OP_TYPES

    documented = first_column_names(section(_tflite_text(), "### Export"))
    gaps = missing([*TFLITE_EXPORTERS, *ONNX_QLINEAR_EXPORTERS, *NOT_EXPORTABLE], documented)
    assert not gaps, f"docs/tflite.md, export table: add a row for accelsim op kind(s) {gaps}"
    unknown = missing(documented - {"accelsim", "---"}, set(OP_TYPES))
    assert not unknown, f"docs/tflite.md, export table: {unknown} are not accelsim op kinds (OP_TYPES)"
