"""The one text analysis for Arabic, French and English, used by every backend (index and query).

Pure Python, no framework. Any change that alters the terms produced must bump ANALYSIS_VERSION:
backends store it and rebuild their index when it changes.

Decisions (each is tested in tests/indexing/test_analysis.py):
- Words are found on the ORIGINAL text, so combining marks, tatweel and zero-width joiners stay
  inside a word and every token's offsets slice the word exactly as typed (diacritics included).
- Stop words (indexing.stoplists) are dropped on both sides and take no position, so a phrase
  "attestation de travail" is two adjacent terms on both sides. A query made only of stop words has
  no terms and therefore matches nothing (every letter contains them; an answer of "everything"
  would be useless).
- Arabic: one article is stripped (ال again after it, so الإلكترونية = إلكترونية), then one
  pronoun suffix and one number/gender suffix. A final ي is NOT stripped: after an article it can
  only be the adjective ending (الاجتماعي "social" must not match اجتماع "meeting"), and without one
  it is as often an adjective (سكن اجتماعي) as "my". The adjective endings ية/يات/يين/يون fold to ي.
- Index side only: each Arabic word is also indexed without a leading و/ف and ب/ل/ك, when the stem
  that remains has at least four letters (so وزارة gives no زار). Query words are never stripped of
  those letters. The index also holds the normalised unstemmed forms, for prefix queries.
- Reference numbers: letters and digits joined by / - (and . , between digit groups) form one
  term, as typed ("2026/145" is not "2026/1450" nor "2025/145"); the parts are indexed too, at
  the same position, so "0458" alone finds INV-2026-0458. A query keeps a reference whole.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from indexing.stoplists import STOP_WORDS

ANALYSIS_VERSION = 1


@dataclass(frozen=True, slots=True)
class Token:
    text: str  # the normalised, stemmed term
    position: int  # word position (variants of one word share it)
    start: int  # character offsets in the ORIGINAL text
    end: int


# --- Character classes, computed once from the Unicode database -------------------------------

_ARABIC_BLOCKS = (
    (0x0600, 0x06FF),
    (0x0750, 0x077F),
    (0x0870, 0x08FF),
    (0xFB50, 0xFDFF),
    (0xFE70, 0xFEFF),
)
# Invisible characters that may sit inside a word (joiners, soft hyphen, bidi marks, BOM).
_INVISIBLE = "\u00ad\u061c\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"
_TATWEEL = "\u0640"


def _ranges(codepoints: list[int]) -> str:
    """A regex character-class body for sorted code points, as ranges."""
    parts = []
    start = prev = codepoints[0]
    for cp in [*codepoints[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        parts.append(re.escape(chr(start)) + ("-" + re.escape(chr(prev)) if prev > start else ""))
        start = prev = cp
    return "".join(parts)


def _build_classes() -> tuple[str, str, str]:
    arabic_letters, marks = [], []
    for low, high in _ARABIC_BLOCKS:
        for cp in range(low, high + 1):
            if unicodedata.category(chr(cp)).startswith("L"):
                arabic_letters.append(cp)
    for cp in range(0x10000):
        if unicodedata.category(chr(cp)).startswith("M"):
            marks.append(cp)
    glue = sorted([*marks, *(ord(ch) for ch in _INVISIBLE)])
    return _ranges(arabic_letters), _ranges(marks), _ranges(glue)


_ARABIC_CLASS, _MARK_CLASS, _GLUE_CLASS = _build_classes()
_MARKS = re.compile(f"[{_MARK_CLASS}]+")
_ARABIC = f"[{_ARABIC_CLASS}]"
_GLUE = f"[{_GLUE_CLASS}]"
_OTHER = f"(?:(?!{_ARABIC})[^\\W_])"
# A segment is a run of one script (Arabic letters, or other letters and digits) with the marks
# and invisible characters inside it. "و86" is two segments; "BK482913" is one.
_SEGMENT = re.compile(f"{_ARABIC}(?:{_ARABIC}|{_GLUE})*|{_OTHER}(?:{_OTHER}|{_GLUE})*")
_ARABIC_LETTER = re.compile(_ARABIC)
_HAS_DIGIT = re.compile(r"\d")
_REFERENCE_JOINERS = "/-\u2010\u2011"  # join any two segments of a reference
_NUMBER_JOINERS = ".,"  # join only digit groups: 14.850,00 but not "réf.2026"
_APOSTROPHES = "'\u2019\u02bc"

# --- Normalisation ---------------------------------------------------------------------------

_CHAR_MAP = str.maketrans(
    {
        "\u0671": "\u0627",  # ٱ alef wasla
        "\u0672": "\u0627",  # ٲ
        "\u0673": "\u0627",  # ٳ
        "\u0674": "",  # ٴ high hamza (left by NFKC of ٵ)
        "\u0649": "\u064a",  # ى alef maqsura → ي
        "\u0629": "\u0647",  # ة taa marbuta → ه
        "\u06c3": "\u0647",  # ۃ
        "\u06be": "\u0647",  # ھ heh doachashmee
        "\u06d5": "\u0647",  # ە
        "\u06c1": "\u0647",  # ہ heh goal
        "\u06a9": "\u0643",  # ک Persian keheh → ك
        "\u06aa": "\u0643",  # ڪ swash kaf
        "\u06cc": "\u064a",  # ی Persian yeh → ي
        "\u06d2": "\u064a",  # ے yeh barree
        "\u0640": "",  # tatweel
        "\u2010": "-",
        "\u2011": "-",
        "œ": "oe",
        "æ": "ae",
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Eastern Arabic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Persian digits
        **dict.fromkeys(_INVISIBLE, ""),
    }
)
# ئو is the older spelling of ؤو (مسئول = مسؤول, شئون = شؤون); elsewhere ئ folds to ي.
_YA_SEAT_BEFORE_WAW = re.compile("\u0626(?=[\u064b-\u0652]*\u0648)")


def normalise(text: str) -> str:
    """NFKC, casefold, no combining marks/tatweel/zero-width, one form per Arabic letter family.

    Hamza on a seat becomes its seat once the mark is dropped (أ إ آ → ا, ؤ → و, ئ → ي).
    """
    text = unicodedata.normalize("NFKC", text)
    text = _YA_SEAT_BEFORE_WAW.sub("\u0624", text)
    text = unicodedata.normalize("NFKD", text.casefold())
    text = _MARKS.sub("", text)
    return unicodedata.normalize("NFC", text.translate(_CHAR_MAP))


# --- Arabic light stemming -------------------------------------------------------------------

_ARTICLE = "ال"
_JOINED_ARTICLES = ("وال", "بال", "كال", "فال", "لل")  # a clitic with the article
_PRONOUNS = ("هما", "كما", "هم", "هن", "كم", "كن", "نا", "ها")
_LEADING_CONJUNCTIONS = "وف"
_LEADING_PREPOSITIONS = "بلك"
_MIN_CLITIC_STEM = 4  # a stem left after removing و/ف/ب/ل/ك: وزارة must not give زار


def _strip_article(word: str) -> str:
    for article in _JOINED_ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= 3:
            word = word[len(article) :]
            break
    else:
        if word.startswith(_ARTICLE) and len(word) - 2 >= 2:
            word = word[2:]
    # A word that itself begins with ال (إلغاء, التزام, إلكتروني) loses it with or without the
    # article in front, so both spellings reach the same stem.
    while word.startswith(_ARTICLE) and len(word) - 2 >= 2:
        word = word[2:]
    return word


def _strip_suffixes(word: str) -> str:
    """One pronoun suffix, then one number/gender suffix (light10 list, final ي kept)."""
    for pronoun in _PRONOUNS:
        if word.endswith(pronoun) and len(word) - len(pronoun) >= 3:
            word = word[: -len(pronoun)]
            # Before a suffix taa marbuta is written ت: شكايتكم, إدارتكم, رقمنتها.
            if not word.endswith("ات") and word.endswith("ت") and len(word) >= 4:
                return word[:-1]
            break
    else:
        if word.endswith("تي") and len(word) - 2 >= 4:  # "my" on a taa marbuta noun: شكايتي
            return word[:-2]
    if word.endswith(("يات", "يين", "يون")) and len(word) - 2 >= 4:
        return word[:-2]  # adjective endings fold to its ي: الاجتماعيات → اجتماعي
    if word.endswith(("تين", "تان")) and len(word) - 3 >= 3:
        return word[:-3]  # feminine dual: الشهادتين → شهاد
    if word.endswith("ات") and len(word) - 2 >= 3:
        return word[:-2]
    if word.endswith(("ون", "ين", "ان")) and len(word) - 2 >= 4:
        return word[:-2]
    if word.endswith("ه") and len(word) - 1 >= 3:  # ة (normalised to ه) or "his"
        return word[:-1]
    return word


def _arabic_stem(word: str) -> str:
    return _strip_suffixes(_strip_article(word))


def _arabic_stem_variants(word: str) -> list[str]:
    """The stem, then the readings only the index adds (the query takes the first)."""
    stem = _arabic_stem(word)
    variants = [stem]
    # "his" after a taa marbuta: شهادته is شهادة + ه; the query keeps ت (مؤقتة must stay مؤقت).
    if stem.endswith("ت") and word.endswith("ته") and len(stem) >= 4:
        variants.append(stem[:-1])
    for article in _JOINED_ARTICLES:
        if word.startswith(article):
            # The first letter may be a radical (والد, بالغ): also the word without the article cut.
            variants.append(_strip_suffixes(word))
            if article == "لل":  # ل + اللجنة is written للجنة
                variants.append(_strip_suffixes(word[1:]))
            break
    return variants


def _arabic_index_forms(word: str) -> list[str]:
    forms = [*_arabic_stem_variants(word), word, _strip_article(word)]
    for bare in _without_clitics(word):
        stems = [s for s in _arabic_stem_variants(bare) if len(s) >= _MIN_CLITIC_STEM]
        if stems and bare not in STOP_WORDS:
            forms.extend([*stems, bare])
    return forms


def _without_clitics(word: str) -> list[str]:
    """The word without a leading و/ف, without a leading ب/ل/ك, and without both."""
    bare = []
    after_conjunction = word[1:] if word[:1] in _LEADING_CONJUNCTIONS else ""
    if len(after_conjunction) >= 3:
        bare.append(after_conjunction)
    for base in (word, after_conjunction):
        if base[:1] in _LEADING_PREPOSITIONS and len(base) >= 4:
            bare.append(base[1:])
    return bare


# --- French and English ----------------------------------------------------------------------

_IRREGULAR = {
    "travaux": "travail",
    "baux": "bail",
    "vitraux": "vitrail",
    "coraux": "corail",
    "vantaux": "vantail",
    "soupiraux": "soupirail",
    "children": "child",
    "women": "woman",
    "men": "man",
}
_IZE = re.compile(r"(?<=\w{3})iz(?=(?:e|ed|es|ing|ation|er)$)")


def _latin_stem(word: str) -> str:
    """Plural folding for French and English, plus the endings that vary with spelling.

    A final e is dropped too, so French feminines, English -es plurals and -ies → -y all meet:
    élève/élèves → elev, companies/company → compani, numérisée/numérisé → numeris.
    """
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3:
        return word
    if word.endswith("eaux"):
        word = word[:-1]
    elif word.endswith("aux") and len(word) > 4:
        word = word[:-3] + "al"  # tribunaux → tribunal
    elif word.endswith(("eux", "oux", "s")) and not word.endswith("ss"):
        word = word[:-1]
    word = _IZE.sub("is", word)  # digitization → digitisation
    if word.endswith("ee") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    if word.endswith("y") and len(word) >= 4:
        word = word[:-1] + "i"
    return word


# --- Words -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    parts: tuple[tuple[int, int], ...]  # the segments of a reference; () for a plain word


def _words(text: str) -> list[_Word]:
    """Words (and references) in the original text, apostrophes splitting elisions off."""
    segments = []
    for match in _SEGMENT.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in _INVISIBLE:
            end -= 1
        segments.append((start, end))
    words: list[_Word] = []
    i = 0
    while i < len(segments):
        chain = [segments[i]]
        while i + 1 < len(segments) and _joins(text, chain[-1], segments[i + 1]):
            i += 1
            chain.append(segments[i])
        i += 1
        if len(chain) > 1 and any(_HAS_DIGIT.search(text[s:e]) for s, e in chain):
            words.append(_Word(chain[0][0], chain[-1][1], tuple(chain)))
        else:
            words.extend(_Word(s, e, ()) for s, e in chain)
    return words


def _joins(text: str, left: tuple[int, int], right: tuple[int, int]) -> bool:
    if right[0] - left[1] != 1:
        return False
    joiner = text[left[1]]
    if joiner in _REFERENCE_JOINERS:
        return True
    return (
        joiner in _NUMBER_JOINERS
        and bool(_HAS_DIGIT.search(text[left[0] : left[1]]))
        and bool(_HAS_DIGIT.search(text[right[0] : right[1]]))
    )


def _is_stop(term: str) -> bool:
    return term in STOP_WORDS or (len(term) == 1 and bool(_ARABIC_LETTER.match(term)))


def _word_forms(normalised: str, *, index: bool) -> list[str]:
    """Terms for one plain word: the query term first; the index adds its variants."""
    if _ARABIC_LETTER.match(normalised):
        return _arabic_index_forms(normalised) if index else [_arabic_stem(normalised)]
    if normalised.isalpha():
        stem = _latin_stem(normalised)
        return [stem, normalised] if index else [stem]
    return [normalised]  # digits, or letters with digits (BK482913): as typed


@lru_cache(maxsize=100_000)
def _plain_word_terms(normalised: str, index: bool) -> tuple[str, ...]:
    """Cached: a letter repeats its words, and a corpus its vocabulary."""
    return tuple(_word_forms(normalised, index=index))


@lru_cache(maxsize=100_000)
def _normalise_word(word: str) -> str:
    return normalise(word)


def _analyse(text: str, *, index: bool) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    for word in _words(text):
        whole = _normalise_word(text[word.start : word.end])
        if not whole or _is_stop(whole):
            continue  # a stop word takes no position, on either side
        if word.parts:
            spans = [(whole, word.start, word.end)]
            if index:
                for start, end in word.parts:
                    part = normalise(text[start:end])
                    if part and not _is_stop(part):
                        spans += [(term, start, end) for term in _word_forms(part, index=True)]
        else:
            spans = [(term, word.start, word.end) for term in _plain_word_terms(whole, index)]
        seen: set[str] = set()
        for term, start, end in spans:
            if term not in seen:  # a stem equal to a stop word ("thee" → "the") is still a term
                seen.add(term)
                tokens.append(Token(term, position, start, end))
        position += 1
    return tokens


def index_tokens(text: str) -> list[Token]:
    """Tokens to index: several per word (stem, clitic-free stems, unstemmed forms, parts)."""
    return _analyse(text, index=True)


def query_terms(text: str) -> list[Token]:
    """One term per word, as the index's first variant of that word (no clitic is removed)."""
    return _analyse(text, index=False)


def needles(term: str) -> frozenset[str]:
    """Short strings, one of which is in the normalised text of every word analysed to `term`:
    a quick test that a text cannot hold the term (highlighting skips such text). A term is a
    piece of its normalised word (stemming only cuts), except the irregular plurals."""
    found = {term[:3]}
    found.update(word[:3] for word, stem in _IRREGULAR.items() if stem == term)
    return frozenset(found)


def prefix_term(word: str) -> str:
    """The normalised, unstemmed prefix: it matches the unstemmed forms and stems in the index.

    "الإدا" → "الادا" (the index holds الإدارة's form "الاداره", with and without ب/و in front);
    typed without the article, "إدا" → "ادا" also reaches the stem "ادار".
    """
    return normalise(word).strip("".join(_APOSTROPHES) + " ")
