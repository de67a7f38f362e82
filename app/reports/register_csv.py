"""CSV export of the mail registry (opens correctly in Excel and LibreOffice)."""

from __future__ import annotations

import csv
import io

__all__ = ["render_register_csv"]

# A cell starting with one of these may be evaluated as a formula by spreadsheet
# software (CSV/formula injection); the registry holds text typed by citizens.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_TRIGGERS):
        return "'" + text
    return text


def render_register_csv(columns: list[tuple[str, str]], rows: list[dict[str, str]]) -> bytes:
    """Render the registry as CSV bytes.

    ``columns`` are ``(key, translated header label)`` pairs, in output order;
    each row is looked up by key (a missing key gives an empty cell).  Output is
    UTF-8 with a BOM (so spreadsheet software detects the encoding of Arabic
    text), CRLF line ends and minimal quoting.  Cells that spreadsheet software
    could take for a formula are prefixed with ``'``.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([neutralise(label) for _key, label in columns])
    for row in rows:
        writer.writerow([neutralise(row.get(key)) for key, _label in columns])
    return buffer.getvalue().encode("utf-8-sig")
