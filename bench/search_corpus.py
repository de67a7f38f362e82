"""Synthetic letters for bench/search.py, grown from the judged samples in the shared test data.

Each letter takes a sample of one language (the samples' Arabic/French/English/mixed
proportions are kept) and varies it: a share of its paragraphs is replaced by paragraphs of other
letters of the same language, every digit run is redrawn (amounts, dates, file numbers), the
correspondent's name recombines a first and a last name of the same language, and the reference,
department, register, status, letter type and dates are drawn. The filters and visibility keys
are those `app.services.search_index.letter_document` gives a letter: register, direction,
status, letter_type, correspondent, department_ids, registered_at, letter_date; 2 to 4 keys among
register:1, user:<officer>, head:<dept>, member:<dept>, agent:<dept>:<user>.

The corpus (with each letter's analysed index terms, space-joined per field, for the reference
engines) is cached as bench/results/search-corpus-v<VERSION>-<N>-seed<seed>-a<analysis>.jsonl.gz.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import sys
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexing.analysis import ANALYSIS_VERSION, index_tokens
from indexing.backends import LETTER_LAYOUT

VERSION = 1  # bump when the generated letters change
SAMPLES = Path("/work/shared/testdata/letters/letters.jsonl")
RESULTS = Path(__file__).resolve().parent / "results"
SPAN_START = date(2024, 11, 1)
SPAN_DAYS = 730
DEPARTMENTS = 8  # ids 1..8
OFFICERS = 5  # user ids 1..5 register letters
AGENTS = range(10, 40)  # user ids agents are
LETTER_TYPES = 6  # ids 1..6
CORRESPONDENTS = 500
REGISTERS = (("incoming", 60), ("outgoing", 30), ("internal", 10))
STATUSES = (("registered", 55), ("closed", 43), ("cancelled", 2))
REGISTER_CODES = {"incoming": "A", "outgoing": "D", "internal": "I"}
REPLACE_SHARE = 0.4  # of a letter's paragraphs, taken from another letter of its language
_DIGITS = re.compile(r"\d+")


def corpus_path(letters: int, seed: int) -> Path:
    name = f"search-corpus-v{VERSION}-{letters}-seed{seed}-a{ANALYSIS_VERSION}.jsonl.gz"
    return RESULTS / name


def _samples() -> list[dict]:
    with SAMPLES.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _redraw_digits(text: str, rng: random.Random) -> str:
    """Every digit run redrawn with as many digits (a year stays four digits, 20xx)."""

    def redraw(match: re.Match) -> str:
        digits = match.group(0)
        if len(digits) == 4 and digits.startswith("20"):
            return str(rng.randint(2019, 2026))
        return "".join(str(rng.randint(0, 9)) for _ in digits)

    return _DIGITS.sub(redraw, text)


def _weighted(rng: random.Random, pairs) -> str:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights)[0]


def _letter(n: int, rng: random.Random, by_lang: dict[str, list[dict]], langs, lang_weights):
    lang = rng.choices(langs, weights=lang_weights)[0]
    pool = by_lang[lang]
    base = rng.choice(pool)
    paragraphs = [
        rng.choice(rng.choice(pool)["body"].split("\n")) if rng.random() < REPLACE_SHARE else p
        for p in base["body"].split("\n")
    ]
    first = rng.choice(pool)["sender"].split()
    last = rng.choice(pool)["sender"].split()
    sender = " ".join(first[: max(1, len(first) // 2)] + last[len(last) // 2 :])
    registered = SPAN_START + timedelta(days=rng.randrange(SPAN_DAYS))
    register = _weighted(rng, REGISTERS)
    number = f"{registered.year}/{REGISTER_CODES[register]}/{n:06d}"
    sender_reference = rng.choice(
        (
            f"REF-{registered.year}/{rng.randint(1, 9999)}",
            f"{rng.randint(1, 999)}/{rng.choice(('DRH', 'DAF', 'SG', 'CAB'))}/{registered.year}",
            "",
        )
    )
    departments = rng.sample(range(1, DEPARTMENTS + 1), rng.choice((1, 1, 1, 2)))
    officer = rng.randint(1, OFFICERS)
    # 2 to 4 keys: who registered it, the register (unless confidential), the routing.
    keys = {f"user:{officer}"}
    if rng.random() > 0.02:
        keys.add("register:1")
    keys.add(f"head:{departments[0]}")
    if rng.random() < 0.5:
        keys.add(f"agent:{departments[0]}:{rng.choice(AGENTS)}")
    if len(departments) > 1:
        keys.add(f"member:{departments[1]}")
    keys = sorted(keys)[:4]
    return {
        "id": f"s{n:07d}",  # never a letter id of the app ("1", "2" ...)
        "lang": lang,
        "fields": {
            "reference": " ".join(part for part in (number, sender_reference) if part),
            "subject": _redraw_digits(base["subject"], rng),
            "correspondent_name": sender,
            "recipient": rng.choice(pool)["recipient_department"],
            "body": _redraw_digits("\n".join(paragraphs), rng),
            "documents": "",
        },
        "filters": {
            "register": register,
            "direction": register,
            "status": _weighted(rng, STATUSES),
            "letter_type": rng.randint(1, LETTER_TYPES),
            "correspondent": rng.randint(1, CORRESPONDENTS),
            "department_ids": departments,
            "registered_at": registered.isoformat(),
            "letter_date": (registered - timedelta(days=rng.randint(0, 20))).isoformat(),
        },
        "visibility": keys,
    }


def terms_by_field(fields: dict[str, str]) -> dict[str, str]:
    """The analysed index terms of each text field, space-joined (what the references get)."""
    return {
        name: " ".join(token.text for token in index_tokens(fields.get(name, "")))
        for name in LETTER_LAYOUT.text_fields
    }


def generate(letters: int, seed: int):
    samples = _samples()
    by_lang: dict[str, list[dict]] = {}
    for sample in samples:
        by_lang.setdefault(sample["lang"], []).append(sample)
    langs = sorted(by_lang)
    lang_weights = [len(by_lang[lang]) for lang in langs]
    rng = random.Random(seed)
    for n in range(1, letters + 1):
        letter = _letter(n, rng, by_lang, langs, lang_weights)
        letter["terms"] = terms_by_field(letter["fields"])
        yield letter


def load(letters: int, seed: int, *, regenerate: bool = False, log=print) -> list[dict]:
    """The corpus, from the cache when it is there."""
    path = corpus_path(letters, seed)
    if path.exists() and not regenerate:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
    RESULTS.mkdir(parents=True, exist_ok=True)
    corpus = []
    temporary = path.with_suffix(".tmp")
    with gzip.open(temporary, "wt", encoding="utf-8", compresslevel=3) as handle:
        for letter in generate(letters, seed):
            corpus.append(letter)
            handle.write(json.dumps(letter, ensure_ascii=False) + "\n")
            if len(corpus) % 20000 == 0:
                log(f"  generated {len(corpus):,} letters")
    temporary.replace(path)
    return corpus


def stream(letters: int, seed: int, *, log=print):
    """The corpus letter by letter (1,000,000 letters do not fit in memory as dicts): from the
    cache when it is there, else generated and cached on the way (complete once exhausted)."""
    path = corpus_path(letters, seed)
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    # One temporary file per process: bench/search_pg_1m.py streams the corpus in several
    # processes at once, and the first run generates it in each of them.
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    with gzip.open(temporary, "wt", encoding="utf-8", compresslevel=3) as handle:
        for n, letter in enumerate(generate(letters, seed), start=1):
            handle.write(json.dumps(letter, ensure_ascii=False) + "\n")
            if n % 100_000 == 0:
                log(f"  generated {n:,} letters")
            yield letter
    temporary.replace(path)
