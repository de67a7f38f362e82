"""`python -m indexing evaluate`: the quality targets on the shared letters, and its arithmetic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from indexing.__main__ import main
from indexing.evaluate import score
from tests.testdata import TESTDATA, needs_testdata

LETTERS = TESTDATA / "letters"


def run_evaluate(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "indexing", "evaluate", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@needs_testdata
@pytest.mark.parametrize("backend", ["whoosh", "postgres"])
def test_shared_letters_meet_the_quality_targets(backend):
    arguments = [
        "--docs",
        str(LETTERS / "letters.jsonl"),
        "--queries",
        str(LETTERS / "queries.jsonl"),
    ]
    if backend == "postgres":
        url = os.environ.get("DIWAN_TEST_DATABASE_URL")
        if not url:
            pytest.skip("PostgreSQL backend: set DIWAN_TEST_DATABASE_URL to run this test")
        arguments += ["--database-url", url]
    finished = run_evaluate(*arguments, "--backend", backend)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    misses = json.dumps(report["misses"], ensure_ascii=False, indent=1)
    assert report["documents"] == 60 and report["queries"] == 40
    assert report["recall"] >= 0.95, misses
    assert report["precision"] >= 0.90, misses
    assert report["must_be_empty"]["queries"] == ["Q37", "Q38", "Q39", "Q40"]
    assert report["must_be_empty"]["returned"] == {}


def test_micro_and_macro_figures_and_must_be_empty_queries():
    queries = [
        {"qid": "A", "query": "a", "relevant": ["1", "2"]},
        {"qid": "B", "query": "b", "relevant": ["3"]},
        {"qid": "C", "query": "c", "relevant": []},
    ]
    returned = {"A": ["1", "2", "4", "5"], "B": [], "C": ["6"]}
    report = score(queries, returned)
    # Pooled: 2 true positives, 3 false positives (two for A, C's leak), 1 false negative (B).
    assert report["micro"] == {
        "precision": 0.4,
        "recall": 0.6667,
        "true_positives": 2,
        "false_positives": 3,
        "false_negatives": 1,
    }
    assert (report["precision"], report["recall"]) == (0.4, 0.6667)
    # Per query over A and B: precision (0.5 + 0) / 2, recall (1 + 0) / 2.
    assert report["macro"] == {"precision": 0.25, "recall": 0.5}
    assert report["must_be_empty"] == {"queries": ["C"], "returned": {"C": ["6"]}}
    assert [miss["qid"] for miss in report["misses"]] == ["A", "B", "C"]
    assert report["misses"][1] == {
        "qid": "B",
        "query": "b",
        "false_negatives": ["3"],
        "false_positives": [],
    }


def test_a_perfect_run_has_no_misses():
    queries = [
        {"qid": "A", "query": "a", "relevant": ["1"]},
        {"qid": "B", "query": "b", "relevant": []},
    ]
    report = score(queries, {"A": ["1"], "B": []})
    assert (report["precision"], report["recall"], report["misses"]) == (1.0, 1.0, [])


def write(path, *lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def test_small_corpus_end_to_end(tmp_path, capsys):
    docs = write(
        tmp_path / "docs.jsonl",
        '{"id": "D1", "subject": "Coupure d\'eau", "body": "Le quartier est privé d\'eau."}',
        '{"id": "D2", "subject": "Facture", "body": "Votre facture de janvier."}',
    )
    queries = write(
        tmp_path / "queries.jsonl",
        '{"qid": "Q1", "query": "factures", "relevant": ["D2"]}',
        '{"qid": "Q2", "query": "eau", "relevant": ["D1", "D2"]}',
        '{"qid": "Q3", "query": "séisme", "relevant": []}',
    )
    assert main(["evaluate", "--docs", docs, "--queries", queries]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "whoosh"
    assert report["misses"] == [
        {"qid": "Q2", "query": "eau", "false_negatives": ["D2"], "false_positives": []}
    ]
    assert report["micro"]["recall"] == 0.6667 and report["micro"]["precision"] == 1.0


@pytest.mark.parametrize(
    ("docs_line", "query_line", "message"),
    [
        (
            '{"id": "D1", "subject": "x"',
            '{"qid": "Q1", "query": "x", "relevant": []}',
            "docs.jsonl:1: not JSON",
        ),
        ('{"subject": "x"}', '{"qid": "Q1", "query": "x", "relevant": []}', "no string id"),
        ('{"id": "D1", "pages": 3}', '{"qid": "Q1", "query": "x", "relevant": []}', "not a string"),
        (
            '{"id": "D1", "subject": "x"}',
            '{"qid": "Q1", "query": "x", "relevant": ["D9"]}',
            "unknown documents",
        ),
        ('{"id": "D1", "subject": "x"}', '{"qid": "Q1", "relevant": []}', "string qid and query"),
        (
            '{"id": "D1", "Subject": "x"}',
            '{"qid": "Q1", "query": "x", "relevant": []}',
            "unusable field name",
        ),
    ],
)
def test_unusable_input_exits_2_saying_why(tmp_path, capsys, docs_line, query_line, message):
    docs = write(tmp_path / "docs.jsonl", docs_line)
    queries = write(tmp_path / "queries.jsonl", query_line)
    assert main(["evaluate", "--docs", docs, "--queries", queries]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_postgres_without_a_database_url_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DIWAN_DATABASE_URL", raising=False)
    docs = write(tmp_path / "docs.jsonl", '{"id": "D1", "subject": "x"}')
    queries = write(tmp_path / "queries.jsonl", '{"qid": "Q1", "query": "x", "relevant": ["D1"]}')
    assert main(["evaluate", "--docs", docs, "--queries", queries, "--backend", "postgres"]) == 2
    assert "database" in capsys.readouterr().err
