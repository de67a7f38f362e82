"""Search quality on judged queries: recall, precision and what each query missed.

Every string field of a document (other than `id`) is searchable text. Each query's returned set
is every hit (all pages), compared with its `relevant` ids:

- micro precision and recall pool every query's true and false positives and negatives (so a
  must-be-empty query that returns something lowers the precision);
- macro precision and recall average per query over the queries with judged relevant documents
  (a query that returns nothing has precision 0 there);
- queries whose `relevant` is empty must return nothing and are listed apart.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from indexing.backends import UNRESTRICTED, Document, Layout, SearchQuery, open_backend
from indexing.backends.base import MAX_PAGE_SIZE


class InputError(ValueError):
    """A documents or queries file the evaluation cannot use (says which line and why)."""


def read_jsonl(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                raise InputError(f"{path}:{number}: not JSON ({error})") from None
            if not isinstance(record, dict):
                raise InputError(f"{path}:{number}: not a JSON object")
            records.append(record)
    return records


def documents_from(records: list[dict]) -> tuple[Layout, list[Document]]:
    names: dict[str, None] = {}
    documents = []
    for record in records:
        if not isinstance(record.get("id"), str) or not record["id"]:
            raise InputError(f"a document has no string id: {str(record)[:80]}")
        fields = {}
        for name, value in record.items():
            if name == "id" or value is None:
                continue
            if not isinstance(value, str):
                raise InputError(f"document {record['id']}: field {name!r} is not a string")
            fields[name] = value
            names.setdefault(name)
        documents.append((record["id"], fields))
    if len({document_id for document_id, _ in documents}) != len(documents):
        raise InputError("two documents share an id")
    try:
        layout = Layout(text_fields=tuple(names))
    except ValueError as error:
        raise InputError(f"documents: {error}") from None
    return layout, [Document(document_id, fields) for document_id, fields in documents]


def checked_queries(records: list[dict], ids: set[str]) -> list[dict]:
    for record in records:
        if not isinstance(record.get("qid"), str) or not isinstance(record.get("query"), str):
            raise InputError(f"a query needs a string qid and query: {str(record)[:80]}")
        relevant = record.get("relevant")
        if not isinstance(relevant, list):
            raise InputError(f"query {record['qid']}: relevant must be a list of ids")
        unknown = set(relevant) - ids
        if unknown:
            raise InputError(f"query {record['qid']}: unknown documents {sorted(unknown)}")
    return records


def returned_ids(backend, text: str) -> list[str]:
    found, page = [], 1
    while True:
        results = backend.search(
            SearchQuery(text, allowed=UNRESTRICTED, page=page, page_size=MAX_PAGE_SIZE)
        )
        found += [hit.id for hit in results.hits]
        if len(found) >= results.total or not results.hits:
            return found
        page += 1


def score(queries: list[dict], returned: dict[str, list[str]]) -> dict:
    true_pos = false_pos = false_neg = 0
    precisions, recalls, misses, must_be_empty, leaked = [], [], [], [], {}
    for query in queries:
        relevant, found = set(query["relevant"]), set(returned[query["qid"]])
        hits, wrong, missed = found & relevant, found - relevant, relevant - found
        true_pos, false_pos, false_neg = (
            true_pos + len(hits),
            false_pos + len(wrong),
            false_neg + len(missed),
        )
        if not relevant:
            must_be_empty.append(query["qid"])
            if found:
                leaked[query["qid"]] = sorted(found)
        else:
            precisions.append(len(hits) / len(found) if found else 0.0)
            recalls.append(len(hits) / len(relevant))
        if wrong or missed:
            misses.append(
                {
                    "qid": query["qid"],
                    "query": query["query"],
                    "false_negatives": sorted(missed),
                    "false_positives": sorted(wrong),
                }
            )
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0
    recall = true_pos / (true_pos + false_neg) if true_pos + false_neg else 1.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "micro": {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "true_positives": true_pos,
            "false_positives": false_pos,
            "false_negatives": false_neg,
        },
        "macro": {
            "precision": round(sum(precisions) / len(precisions), 4) if precisions else 1.0,
            "recall": round(sum(recalls) / len(recalls), 4) if recalls else 1.0,
        },
        "must_be_empty": {"queries": must_be_empty, "returned": leaked},
        "misses": misses,
    }


@contextmanager
def fresh_backend(kind: str, layout: Layout, database_url: str | None):
    if kind == "whoosh":
        with tempfile.TemporaryDirectory(prefix="diwan-evaluate-") as directory:
            backend = open_backend("whoosh", layout, path=Path(directory) / "index")
            try:
                yield backend
            finally:
                backend.close()
    elif kind == "postgres":
        if not database_url:
            raise InputError("the postgres backend needs --database-url or DIWAN_DATABASE_URL")
        table = f"diwan_evaluate_{os.getpid()}_{secrets.token_hex(4)}"
        backend = open_backend("postgres", layout, database_url=database_url, table=table)
        try:
            yield backend
        finally:
            backend.drop()
            backend.close()
    else:
        raise InputError(f"unknown backend {kind!r}")


def evaluate(
    docs_path: Path, queries_path: Path, kind: str = "whoosh", database_url: str | None = None
) -> dict:
    layout, documents = documents_from(read_jsonl(docs_path))
    queries = checked_queries(read_jsonl(queries_path), {document.id for document in documents})
    started = time.perf_counter()
    with fresh_backend(kind, layout, database_url) as backend:
        backend.index(documents)
        backend.commit()
        indexed = time.perf_counter()
        returned = {query["qid"]: returned_ids(backend, query["query"]) for query in queries}
        searched = time.perf_counter()
    return {
        "backend": kind,
        "documents": len(documents),
        "queries": len(queries),
        **score(queries, returned),
        "seconds": {
            "indexing": round(indexed - started, 3),
            "searching": round(searched - indexed, 3),
        },
    }
