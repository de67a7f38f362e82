"""Child side of ``extraction.extract_text``: the only indexing code that opens untrusted files.

Run as a script (``python -I _extract_child.py OP MEMORY_MB CPU_S OUTPUT_MB``, see sandbox.py),
never imported by the indexer to do work, so it is self-contained: standard library, plus pypdf,
pypdfium2 and Pillow imported only once the resource limits are in place; ``ocr.py`` is loaded by
path. (Tests import it for the pure text functions.) Reads a JSON object of arguments on stdin and
writes ``{"ok": true, "result": {...}}`` on the original stdout; anything a library prints goes to
stderr. Exits with status 3 after a MemoryError.

Arabic text layers: PDF producers draw glyphs left to right, so an Arabic line is stored in visual
order. pypdf 7.1 reverses right-to-left runs one text operator at a time, which leaves Arabic-Indic
numbers reversed (١٢٣ comes out as ٣٢١) and mixed lines with their runs in visual order. So this
module asks pypdf for the plain content order (glyph strings that map to several characters, such
as ligatures, kept as units) and turns each line into logical order with the Unicode
bidirectional algorithm (UAX #9, without explicit embeddings). Applying the algorithm to visual
text gives back the logical text for the usual cases: Arabic lines with Latin words, reference
numbers and Arabic-Indic or European digits. It cannot tell apart logical strings that display
identically (a reference like 2026/A/123 inside Arabic text displays as A/123/2026).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import resource
import sys
import time
import unicodedata
import warnings
from pathlib import Path
from typing import Any

EXIT_MEMORY = 3
MAX_TEXT_CHARS = 2_000_000  # per document; more is a generated bomb, not correspondence
MIN_PAGE_CHARS = 3  # fewer visible characters than this: no usable text layer on the page
MAX_BAD_SHARE = 0.1  # replacement, private-use, unassigned or control characters
MIN_ALNUM_SHARE = 0.5  # letters and digits among the visible characters
OCR_MIN_BUDGET_S = 1.0  # do not start Tesseract on a page with less time left than this

UNIT_OPEN, UNIT_CLOSE = "\ufdd0", "\ufdd1"  # noncharacters: never meaningful text
_STRONG = frozenset({"L", "R", "AL"})
_WEAK = frozenset({"EN", "ES", "ET", "AN", "CS", "NSM"})
_NEUTRAL = frozenset({"ON", "WS", "S", "B", "BN"})
_COMBINING = (  # Latin and Arabic combining marks, as regular-expression ranges
    "\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
)
_LETTER = r"[^\W\d_]"
# A mark split from the letter it belongs to by a space (PDF producers shift marks with a text
# move, and pypdf reads the move as a gap): the mark ends a word, so it joins the letter before.
_MARK_AFTER_SPACE = re.compile(rf"(?<={_LETTER})[ \t]+(?=[{_COMBINING}]+(?!{_LETTER}))")
# A mark before its base letter at the start of a word (producers that store the mark after
# its base in visual order): put it back after the letter (UAX #9 rule L3).
_MARK_BEFORE_BASE = re.compile(rf"(?<!{_LETTER})([{_COMBINING}]+)({_LETTER})")
_BAD_CATEGORIES = frozenset({"Co", "Cn", "Cs", "Cc"})
# Direction marks and embeddings (Tesseract puts LRM/RLM around runs): invisible, and they would
# split words for the analyser.
_BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


# -- limits and entry point ----------------------------------------------------------------------


def set_limits(memory_mb: int, cpu_s: int, output_mb: int) -> None:
    """Cap address space, CPU seconds and written file size; disable core dumps. Helpers
    started later (Tesseract) inherit the same caps."""

    def lower(kind: int, value: int, hard_extra: int = 0) -> None:
        _soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
            hard_value = min(value + hard_extra, hard)
        else:
            hard_value = value + hard_extra
        resource.setrlimit(kind, (value, hard_value))

    lower(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    lower(resource.RLIMIT_CPU, cpu_s, hard_extra=1)  # SIGXCPU first, SIGKILL a second later
    lower(resource.RLIMIT_FSIZE, output_mb * 1024 * 1024)
    lower(resource.RLIMIT_CORE, 0)


def main(argv: list[str]) -> None:
    started = time.monotonic()
    op, memory_mb, cpu_s, output_mb = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
    set_limits(memory_mb, cpu_s, output_mb)
    answer_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries land in stderr, not in the answer
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    try:
        args = json.loads(sys.stdin.buffer.read())
        args["_started"] = started
        answer: dict[str, Any] = {"ok": True, "result": OPS[op](args)}
        status = 0
    except MemoryError:
        os._exit(EXIT_MEMORY)
    except Exception as exc:
        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        status = 1
    data = json.dumps(answer).encode()
    while data:
        data = data[os.write(answer_fd, data) :]
    # Skip interpreter teardown: finalizers of half-parsed hostile objects have nothing to add.
    os._exit(status)


# -- text clean-up and bidirectional reordering --------------------------------------------------


def _atoms(line: str) -> list[str]:
    """Split a line into characters, keeping each marked multi-character glyph string whole."""
    atoms: list[str] = []
    unit: list[str] | None = None
    for char in line:
        if char == UNIT_OPEN:
            unit = []
        elif char == UNIT_CLOSE:
            if unit:
                atoms.append("".join(unit))
            unit = None
        elif unit is not None:
            unit.append(char)
        else:
            atoms.append(char)
    if unit:
        atoms.append("".join(unit))
    return atoms


def _bidi_class(atom: str) -> str:
    """The UAX #9 class of one character, or of a glyph string (its first strong character)."""
    if len(atom) == 1:
        kind = unicodedata.bidirectional(atom) or "L"
        return kind if kind in _STRONG or kind in _NEUTRAL or kind in _WEAK else "ON"
    for char in atom:
        if unicodedata.bidirectional(char) in _STRONG:
            return unicodedata.bidirectional(char)
    return "ON"


def _resolve_types(types: list[str], embedding: str) -> list[str]:
    """Rules W1-W7 and N1-N2 of UAX #9 for one line at one embedding level."""
    count = len(types)
    previous = embedding
    for i, kind in enumerate(types):  # W1: a mark takes the type of what precedes it
        if kind == "NSM":
            types[i] = previous
        else:
            previous = kind
    last_strong = embedding
    for i, kind in enumerate(types):  # W2: European digits after Arabic letters are Arabic
        if kind in _STRONG:
            last_strong = kind
        elif kind == "EN" and last_strong == "AL":
            types[i] = "AN"
    types[:] = ["R" if kind == "AL" else kind for kind in types]  # W3
    for i in range(1, count - 1):  # W4: one separator between two numbers of the same kind
        before, after = types[i - 1], types[i + 1]
        if types[i] == "ES" and before == after == "EN":
            types[i] = "EN"
        elif types[i] == "CS" and before == after and before in ("EN", "AN"):
            types[i] = before
    i = 0
    while i < count:  # W5: terminators (%, currency) next to European digits
        if types[i] != "ET":
            i += 1
            continue
        end = i
        while end < count and types[end] == "ET":
            end += 1
        if (i > 0 and types[i - 1] == "EN") or (end < count and types[end] == "EN"):
            types[i:end] = ["EN"] * (end - i)
        i = end
    types[:] = ["ON" if kind in ("ES", "ET", "CS") else kind for kind in types]  # W6
    last_strong = embedding
    for i, kind in enumerate(types):  # W7: European digits in left-to-right text are L
        if kind in ("L", "R"):
            last_strong = kind
        elif kind == "EN" and last_strong == "L":
            types[i] = "L"
    i = 0
    while i < count:  # N1/N2: neutrals between two runs of one direction take it
        if types[i] not in _NEUTRAL:
            i += 1
            continue
        end = i
        while end < count and types[end] in _NEUTRAL:
            end += 1
        before = embedding if i == 0 else ("L" if types[i - 1] == "L" else "R")
        after = embedding if end == count else ("L" if types[end] == "L" else "R")
        types[i:end] = [before if before == after else embedding] * (end - i)
        i = end
    return types


def visual_to_logical(line: str) -> str:
    """One line of a PDF's text in visual (left-to-right drawing) order, in logical order.

    Lines without right-to-left letters are returned as they are (markers removed). The
    paragraph direction cannot be read from the first letter (in visual order it is the logical
    last one of a right-to-left line): it is the direction of the strong letters at both ends
    when they agree, else that of most strong letters.
    """
    atoms = _atoms(line)
    classes = [_bidi_class(atom) for atom in atoms]
    right = sum(kind in ("R", "AL") for kind in classes)
    if not right:
        return "".join(atoms)
    strong = ["L" if kind == "L" else "R" for kind in classes if kind in _STRONG]
    if strong[0] == strong[-1]:  # both ends agree
        base = 1 if strong[0] == "R" else 0
    else:
        base = 1 if right >= len(strong) - right else 0
    types = _resolve_types(classes, "R" if base else "L")
    if base:  # I2
        levels = [1 if kind == "R" else 2 for kind in types]
    else:  # I1
        levels = [0 if kind == "L" else 1 if kind == "R" else 2 for kind in types]
    for i in range(len(atoms) - 1, -1, -1):  # L1: trailing white space at paragraph level
        if not atoms[i].isspace():
            break
        levels[i] = base
    lowest_odd = min((level for level in levels if level % 2), default=max(levels) + 1)
    for level in range(max(levels), lowest_odd - 1, -1):  # L2
        i = 0
        while i < len(atoms):
            if levels[i] < level:
                i += 1
                continue
            end = i
            while end < len(atoms) and levels[end] >= level:
                end += 1
            atoms[i:end] = atoms[i:end][::-1]
            levels[i:end] = levels[i:end][::-1]
            i = end
    return "".join(atoms)


def clean_page_text(raw: str, *, reorder: bool) -> str:
    """A page's extracted text made fit to index: logical order (when ``reorder``), marks back
    on their letters, presentation forms and ligatures undone (NFKC), and without direction
    marks, the characters a broken font produces (control, private-use, unassigned, replacement)
    or form feeds, which separate pages."""
    if reorder:
        text = "\n".join(visual_to_logical(line) for line in raw.split("\n"))
    else:
        text = raw.replace(UNIT_OPEN, "").replace(UNIT_CLOSE, "")
    text = _MARK_BEFORE_BASE.sub(r"\2\1", _MARK_AFTER_SPACE.sub("", text))
    text = unicodedata.normalize("NFKC", text.translate(_BIDI_CONTROLS))
    return "".join(
        char
        for char in text
        if char in "\n\t"
        or (unicodedata.category(char) not in _BAD_CATEGORIES and char != "\ufffd")
    )


def usable_text(raw: str) -> bool:
    """Whether a page's text layer (before cleaning) is worth indexing: enough visible
    characters, few broken ones, mostly letters and digits. False means OCR should read it."""
    visible = [char for char in raw if not char.isspace() and char not in (UNIT_OPEN, UNIT_CLOSE)]
    if len(visible) < MIN_PAGE_CHARS:
        return False
    bad = sum(unicodedata.category(c) in _BAD_CATEGORIES or c == "\ufffd" for c in visible)
    alnum = sum(char.isalnum() for char in visible)
    return bad <= MAX_BAD_SHARE * len(visible) and alnum >= MIN_ALNUM_SHARE * len(visible)


# -- the extraction -------------------------------------------------------------------------------


class Job:
    """One extraction: the arguments, the clock, the pages found so far and what went wrong."""

    def __init__(self, args: dict[str, Any]) -> None:
        self.path = Path(args["path"])
        self.workdir = Path(args["workdir"])
        self.ocr_mode = args["ocr"]
        self.languages = args["languages"]
        self.page_timeout_s = float(args["page_timeout_s"])
        self.deadline = float(args["_started"]) + float(args["budget_s"])
        self.pages: list[str] = []
        self.methods: list[str] = []  # per page: "text-layer", "ocr" or "none"
        self.problems: dict[str, list[str]] = {}  # reason -> details, in order of discovery

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def problem(self, reason: str, detail: str) -> None:
        self.problems.setdefault(reason, []).append(detail)

    def answer(self) -> dict[str, Any]:
        """Status, reason and method from what was found; text bounded to MAX_TEXT_CHARS."""
        pages, total = [], 0
        for text in self.pages:
            room = MAX_TEXT_CHARS - total
            if len(text) > room:
                self.problem("truncated", f"text cut at {MAX_TEXT_CHARS} characters")
                text = text[: max(room, 0)]
            pages.append(text)
            total += len(text)
        found = any(text.strip() for text in pages)
        if found:
            status = "ok"
            method = "ocr" if "ocr" in self.methods else "text-layer"
        else:
            status = "no-text" if set(self.problems) <= _NO_TEXT_REASONS else "failed"
            method = "none"
        reason = next((r for r in _REASON_PRIORITY if r in self.problems), "")
        if not found and not reason:
            reason = "blank"
        detail = "; ".join(f"{r}: {', '.join(d)}" for r, d in self.problems.items())
        return {
            "pages": pages,
            "methods": self.methods,
            "status": status,
            "reason": reason,
            "method": method,
            "detail": detail[:2000],
        }


# When no page has text, these leave the document "no-text" (a flag) rather than "failed".
_NO_TEXT_REASONS = frozenset({"no-ocr", "ocr-disabled", "blank"})
_REASON_PRIORITY = (
    "encrypted",
    "too-large",
    "damaged",
    "timeout",
    "ocr-failed",
    "no-ocr",
    "ocr-disabled",
    "truncated",
)


def _error(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        raise exc
    return f"{type(exc).__name__}: {exc}"[:300]


def _load_ocr() -> Any:
    """ocr.py, loaded by path: this script runs isolated, without the indexing package."""
    spec = importlib.util.spec_from_file_location(
        "diwan_indexing_ocr", Path(__file__).with_name("ocr.py")
    )
    if spec is None or spec.loader is None:
        raise ImportError("ocr.py not found beside the extraction child")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keep_content_order() -> bool:
    """Make pypdf return glyphs in content (visual) order, multi-character glyph strings marked
    as units, instead of reversing right-to-left runs per operator. Returns False, leaving
    pypdf's own ordering, if pypdf's internals are not the ones this was written for (7.1)."""
    try:
        from pypdf._text_extraction import _text_extractor
    except ImportError:
        return False
    if not callable(getattr(_text_extractor, "get_display_str", None)):
        return False

    def content_order(
        text: str,
        cm_matrix: Any,
        tm_matrix: Any,
        font_resource: Any,
        font: Any,
        text_operands: str,
        font_size: float,
        rtl_dir: bool,
        visitor_text: Any,
    ) -> tuple[str, bool, str]:
        parts = [text]
        for raw in text_operands:
            mapped = font.character_map.get(raw, raw)
            parts.append(mapped if len(mapped) <= 1 else UNIT_OPEN + mapped + UNIT_CLOSE)
        return "".join(parts), False, ""

    _text_extractor.get_display_str = content_order
    return True


def extract(args: dict[str, Any]) -> dict[str, Any]:
    job = Job(args)
    kind = args["kind"]
    if kind == "pdf":
        _extract_pdf(job)
    elif kind == "image":
        _extract_image(job)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return job.answer()


def _extract_pdf(job: Job) -> None:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import LimitReachedError

    reorder = _keep_content_order()
    try:
        reader = PdfReader(job.path, strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            job.problem("encrypted", "a password is required")
            return
        count = len(reader.pages)
    except LimitReachedError as exc:
        job.problem("too-large", _error(exc))
        return
    except Exception as exc:
        job.problem("encrypted" if "decrypt" in str(exc).lower() else "damaged", _error(exc))
        return
    if count < 1:
        job.problem("damaged", "the document has no pages")
        return
    needs_ocr: list[int] = []
    for index in range(count):
        if job.remaining() <= 0:
            job.problem("timeout", f"text layer read up to page {index}")
            break
        bomb = False
        try:
            raw = reader.pages[index].extract_text()
        except LimitReachedError as exc:
            # A decompression or token bomb: PDFium would need as much memory to render it.
            job.problem("too-large", f"page {index + 1}: {_error(exc)}")
            raw, bomb = "", True
        except Exception as exc:
            job.problem("damaged", f"page {index + 1}: {_error(exc)}")
            raw = ""
        usable = usable_text(raw)
        job.pages.append(clean_page_text(raw, reorder=reorder) if usable else "")
        job.methods.append("text-layer" if usable else "none")
        if bomb:
            continue
        if job.ocr_mode == "always" or (job.ocr_mode == "auto" and not usable):
            needs_ocr.append(index)
        elif not usable:
            job.problem("ocr-disabled", f"page {index + 1}")
    if needs_ocr:
        _ocr_pdf_pages(job, needs_ocr)


def _ocr_pdf_pages(job: Job, indexes: list[int]) -> None:
    ocr = _load_ocr()
    tesseract = _tesseract(job, ocr)
    if tesseract is None:
        return
    binary, languages = tesseract
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(job.path))
    except Exception as exc:
        job.problem("damaged", f"PDFium: {_error(exc)}")
        return
    image = job.workdir / "page.png"
    for index in indexes:
        if job.remaining() < OCR_MIN_BUDGET_S:
            job.problem("timeout", f"OCR stopped before page {index + 1}")
            break
        try:
            dpi = ocr.render_pdf_page(document, index, image)
        except Exception as exc:
            job.problem("damaged", f"page {index + 1} not rendered: {_error(exc)}")
            continue
        if not _ocr_page(job, ocr, binary, languages, image, index, dpi):
            break


def _extract_image(job: Job) -> None:
    if job.ocr_mode == "never":
        job.problem("ocr-disabled", "an image has no text layer")
        return
    ocr = _load_ocr()
    tesseract = _tesseract(job, ocr)
    if tesseract is None:
        return
    binary, languages = tesseract
    from PIL import Image

    image = job.workdir / "page.png"
    try:
        for index, frame in enumerate(ocr.image_frames(job.path)):
            ocr.save_for_ocr(frame, image)
            job.pages.append("")
            job.methods.append("none")
            if not _ocr_page(job, ocr, binary, languages, image, index, None):
                break
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        job.problem("too-large", _error(exc))
    except Exception as exc:
        job.problem("damaged", _error(exc))


def _tesseract(job: Job, ocr: Any) -> tuple[str, str] | None:
    """Tesseract's path and the installed subset of the requested languages, or None (and the
    problem recorded) when OCR is impossible here."""
    binary = ocr.find_tesseract()
    if binary is None:
        job.problem("no-ocr", "Tesseract is not installed")
        return None
    try:
        languages = ocr.usable_languages(binary, job.languages)
    except ocr.OcrError as exc:
        job.problem("ocr-failed", exc.detail)
        return None
    if not languages:
        job.problem("no-ocr", f"no Tesseract data for {job.languages}")
        return None
    return binary, languages


def _ocr_page(
    job: Job, ocr: Any, binary: str, languages: str, image: Path, index: int, dpi: int | None
) -> bool:
    """OCR one page image into ``job.pages[index]``; False when time is up for further pages."""
    budget = min(job.page_timeout_s, job.remaining())
    if budget < OCR_MIN_BUDGET_S:
        job.problem("timeout", f"OCR stopped before page {index + 1}")
        return False
    try:
        text = ocr.recognise(binary, image, languages, timeout_s=budget, dpi=dpi)
    except ocr.OcrError as exc:
        job.problem("timeout" if exc.reason == "timeout" else "ocr-failed", f"page {index + 1}")
        return True
    if text.strip():
        job.pages[index] = clean_page_text(text, reorder=False)
        job.methods[index] = "ocr"
    return True


def probe(args: dict[str, Any]) -> dict[str, Any]:
    """What the child sees (for tests and deployment checks): environment names, limits, and
    which Tesseract OCR would use."""
    ocr = _load_ocr()
    return {
        "environment": sorted(os.environ),
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS)[0],
        "rlimit_cpu": resource.getrlimit(resource.RLIMIT_CPU)[0],
        "tesseract": ocr.find_tesseract(),
        "modules": sorted({name.split(".")[0] for name in sys.modules}),
    }


OPS = {"extract": extract, "probe": probe}


if __name__ == "__main__":
    main(sys.argv)
