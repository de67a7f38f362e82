"""The dashboard's tables as one CSV file: each table its title row, its header and its rows,
a blank row between tables. UTF-8 with a BOM and CRLF, as the register's CSV, and cells a
spreadsheet could take for a formula (a department named "=..." by an administrator) neutralised.
Numbers are written plainly (dot decimal, no grouping) so a spreadsheet reads them as numbers."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from .register_csv import neutralise

__all__ = ["Table", "plain_number", "render_tables"]


@dataclass(frozen=True)
class Table:
    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[object]]


def plain_number(value: float | int | None, digits: int = 1) -> str:
    """12 -> "12", 2.25 -> "2.3" (digits after the point), None -> "" (no figure)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def render_tables(tables: Sequence[Table]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for index, table in enumerate(tables):
        if index:
            writer.writerow([])
        writer.writerow([neutralise(table.title)])
        writer.writerow([neutralise(cell) for cell in table.header])
        for row in table.rows:
            writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")
