"""Rewrite the generated report-column table of docs/model.md from accelsim.report (run after changing
LayerResult or NetworkTotals; tests/test_report_columns.py checks it is current)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from accelsim.report import column_table_markdown

BEGIN, END = "<!-- report-columns:begin (generated) -->\n", "<!-- report-columns:end -->"


def main() -> int:
    doc = Path(__file__).resolve().parents[1] / "docs" / "model.md"
    text = doc.read_text()
    new, count = re.subn(re.escape(BEGIN) + r".*?" + re.escape(END),
                         lambda _: BEGIN + column_table_markdown() + END, text, flags=re.S)
    if count != 1:
        print(f"{doc}: no generated column table found", file=sys.stderr)
        return 2
    doc.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
