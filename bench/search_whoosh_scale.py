"""How the Whoosh backend grows toward 1,000,000 letters (issue 5: "report what Whoosh does there").

Builds one index as a rebuild does (`clear()`, then a commit every --batch letters), and at each
checkpoint (every --every letters) times every query class of bench/search.py on what is indexed
so far, as the search page asks (facets, page size 20). A line of JSON per checkpoint goes to
bench/results/search-whoosh-scale-<N>.jsonl as it is measured, so a run cut short still reports.

    .venv/bin/python bench/search_whoosh_scale.py [--letters 1000000] [--every 250000]
        [--batch 5000] [--queries 50]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common
import search
import search_corpus

from indexing.backends import LETTER_LAYOUT, open_backend


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--letters", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=250_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=50, help="per query class")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    letters = search_corpus.stream(args.letters, args.seed, log=common.log)
    out = search_corpus.RESULTS / f"search-whoosh-scale-{args.letters}.jsonl"
    path = Path(tempfile.mkdtemp(prefix="diwan-bench-whoosh-scale-")) / "index"
    backend = open_backend("whoosh", LETTER_LAYOUT, path=path)
    backend.clear()
    queries = None
    started = time.perf_counter()
    indexing_s, done = 0.0, 0
    while batch := list(itertools.islice(letters, args.batch)):
        if queries is None:  # drawn from the first batch's letters, as bench/search.py draws them
            queries = search.make_queries(batch, args.queries, args.seed)
        batch_started = time.perf_counter()
        backend.index(map(search.document, batch))
        backend.commit()
        indexing_s += time.perf_counter() - batch_started
        done += len(batch)
        if done % args.every and done < args.letters:
            continue
        figures = {
            "letters": done,
            "letters_per_s": round(done / indexing_s, 1),
            "segments": backend.segment_count(),
            "size_mb": round(search.dir_size(path) / 1e6, 1),
            "load_average": os.getloadavg(),
            "page": search.time_all(search.backend_runner(backend, search.FACETS), queries),
            "wall_s": round(time.perf_counter() - started, 1),
        }
        with out.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(figures) + "\n")
        common.log(f"{done:,} letters: {search._brief(figures['page'])}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
