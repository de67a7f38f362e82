"""CSV export of the registry."""

from __future__ import annotations

import csv
import io

import pytest

from app.reports.register_csv import render_register_csv

COLUMNS = [("number", "الرقم"), ("correspondent", "المراسل"), ("subject", "Objet")]


def _parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_starts_with_utf8_bom() -> None:
    data = render_register_csv(COLUMNS, [])
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\xef\xbb\xbf") == 1


def test_lines_end_with_crlf() -> None:
    rows = [{"number": f"2026/A/{i:06d}", "subject": "x"} for i in range(3)]
    data = render_register_csv(COLUMNS, rows)
    assert data.endswith(b"\r\n")
    assert data.count(b"\r\n") == 4
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_arabic_and_french_round_trip() -> None:
    rows = [
        {
            "number": "2026/A/000123",
            "correspondent": "وزارة الداخلية",
            "subject": "مراسلة رقم 2026/A/000123 بتاريخ 2026-11-22",
        },
        {
            "number": "2026/A/000124",
            "correspondent": "Éléonore Dupré",
            "subject": 'Réf. ٢٠٢٦/١٤٥ — "urgent", à traiter\nligne 2',
        },
    ]
    parsed = _parse(render_register_csv(COLUMNS, rows))
    assert parsed[0] == ["الرقم", "المراسل", "Objet"]
    assert parsed[1:] == [[row[key] for key, _label in COLUMNS] for row in rows]


def test_missing_keys_give_empty_cells() -> None:
    parsed = _parse(render_register_csv(COLUMNS, [{"number": "1"}]))
    assert parsed[1] == ["1", "", ""]


@pytest.mark.parametrize(
    "value",
    ["=1+1", '=HYPERLINK("http://evil","x")', "+33 6 12", "-2+3", "@SUM(A1:A2)", "\tx", "\rx"],
)
def test_formula_injection_is_neutralised(value: str) -> None:
    parsed = _parse(render_register_csv(COLUMNS, [{"subject": value}]))
    assert parsed[1][2] == "'" + value


def test_header_labels_are_guarded_too() -> None:
    parsed = _parse(render_register_csv([("a", "=label")], []))
    assert parsed[0] == ["'=label"]


@pytest.mark.parametrize("value", ["a=b", "2026-11-22", "مرحبا =1", " =1", "'quoted"])
def test_ordinary_values_are_untouched(value: str) -> None:
    parsed = _parse(render_register_csv(COLUMNS, [{"subject": value}]))
    assert parsed[1][2] == value
