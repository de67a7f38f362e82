"""The indexing commands.

python -m indexing evaluate --docs DOCS.jsonl --queries QUERIES.jsonl [--backend whoosh|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from indexing.evaluate import InputError, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexing")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "evaluate", help="index documents into a fresh temporary index and score judged queries"
    )
    check.add_argument("--docs", type=Path, required=True, help="JSON lines: id + text fields")
    check.add_argument(
        "--queries", type=Path, required=True, help="JSON lines: qid, query, relevant"
    )
    check.add_argument("--backend", choices=("whoosh", "postgres"), default="whoosh")
    check.add_argument(
        "--database-url",
        default=os.environ.get("DIWAN_DATABASE_URL"),
        help="for --backend postgres (default: $DIWAN_DATABASE_URL); a temporary table is used",
    )
    arguments = parser.parse_args(argv)
    try:
        report = evaluate(
            arguments.docs, arguments.queries, arguments.backend, arguments.database_url
        )
    except (InputError, OSError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
