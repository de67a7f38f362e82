"""Hostile files from other projects (see /work/shared/testdata/manifest.tsv).

Every extraction/ file must finish ingest_upload within the sandbox limits; every Pillow bomb in
images/ must be refused without the child's memory growing past its limit.
"""

from __future__ import annotations

import gzip
import resource
import time
from pathlib import Path

import pytest
from files_testsupport import TEST_TIMEOUT_S, TESTDATA, corpus_file, gunzip_capped, needs_testdata

from app.files.intake import FLAGS, UploadRejected, ingest_upload
from app.files.sandbox import SandboxError, run_sandboxed
from app.files.sniff import SNIFF_BYTES
from app.files.store import FileStore

EXTRACTION = sorted(p for p in (TESTDATA / "extraction").rglob("*") if p.is_file())
IMAGES = sorted(p for p in (TESTDATA / "images" / "pillow").glob("*") if p.is_file())
MEMORY_MB = 1024
MAX_BYTES = 64 * 1024 * 1024

# Outcomes the manifest lets us pin down: (page_count, flags).
KNOWN = {
    "sample-files/minimal-document.pdf": (1, set()),
    "sample-files/pdflatex-4-pages.pdf": (4, set()),
    "sample-files/habibi.pdf": (1, set()),
    "sample-files/google-doc-document.pdf": (1, set()),
    "sample-files/libreoffice-writer-password.pdf": (None, {"encrypted", "password_protected"}),
    "qpdf/append-xref-loop.pdf": (30, set()),
    "qpdf/pages-loop.pdf": (None, {"unreadable"}),
    "pyhanko/circular-page-tree.pdf": (None, {"unreadable"}),
}


def _id(path: Path) -> str:
    return str(path.relative_to(TESTDATA))


@needs_testdata
@pytest.mark.parametrize("path", EXTRACTION, ids=_id)
def test_extraction_file_finishes_within_limits(
    store: FileStore, tmp_path: Path, path: Path
) -> None:
    upload = corpus_file(path, tmp_path)
    data = upload.read_bytes()
    started = time.monotonic()
    try:
        with upload.open("rb") as stream:
            result = ingest_upload(
                store,
                stream,
                upload.name,
                max_bytes=MAX_BYTES,
                timeout_s=TEST_TIMEOUT_S,
                memory_mb=MEMORY_MB,
            )
    except UploadRejected as rejected:
        # Only files PDF readers would not open either (no header in the first 1024 bytes).
        assert rejected.code == "unsupported_type"
        assert b"%PDF-" not in data[:SNIFF_BYTES]
        return
    finally:
        assert time.monotonic() - started < TEST_TIMEOUT_S + 5
        assert list(store.tmp_dir.iterdir()) == []
    assert result.media_type == "application/pdf"
    assert result.flags <= set(FLAGS)
    assert store.open_verified(result.original_sha256) == data
    if result.pdf_sha256 is None:
        assert result.page_count is None and result.flags
    else:
        assert result.pdf_sha256 == result.original_sha256 and result.page_count >= 1
    key = str(path.relative_to(TESTDATA / "extraction"))
    if key in KNOWN:
        assert (result.page_count, set(result.flags)) == KNOWN[key]


@needs_testdata
def test_every_manifest_file_is_covered() -> None:
    rows = (TESTDATA / "manifest.tsv").read_text().splitlines()[1:]
    listed = {row.split("\t")[0] for row in rows}
    for folder, found in (("extraction/", EXTRACTION), ("images/pillow/", IMAGES)):
        expected = {path for path in listed if path.startswith(folder)}
        assert expected and expected <= {_id(path) for path in found}


@needs_testdata
@pytest.mark.parametrize("path", IMAGES, ids=_id)
def test_pillow_bomb_is_refused(store: FileStore, path: Path) -> None:
    with path.open("rb") as stream, pytest.raises(UploadRejected) as info:
        ingest_upload(store, stream, path.name, max_bytes=MAX_BYTES, timeout_s=TEST_TIMEOUT_S)
    assert info.value.code in ("invalid_image", "unsupported_type")
    assert list(store.iter_hashes()) == [] and list(store.tmp_dir.iterdir()) == []


@needs_testdata
@pytest.mark.parametrize("path", IMAGES, ids=_id)
def test_pillow_bomb_fails_cleanly_even_past_the_sniffer(tmp_path: Path, path: Path) -> None:
    """Feed GIF/ICO bombs to the converter directly: Pillow must refuse them before allocating."""
    args = {"src": str(path), "dest": str(tmp_path / "out.pdf")}
    with pytest.raises(SandboxError) as info:
        run_sandboxed("image_to_pdf", args, timeout_s=TEST_TIMEOUT_S, memory_mb=MEMORY_MB)
    assert info.value.reason == "failed", info.value.detail
    # Largest resident set of any child so far (kB on Linux): well under the limit.
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < MEMORY_MB * 1024


def test_gunzip_capped_stops_a_gzip_bomb() -> None:
    bomb = gzip.compress(b"\0" * (256 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 1024 * 1024
    assert len(gunzip_capped(bomb, cap=4 * 1024 * 1024)) == 4 * 1024 * 1024
