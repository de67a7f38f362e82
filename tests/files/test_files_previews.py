"""Page previews: rendered in the sandbox at the requested width, cached, refused if impossible."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from files_testsupport import TESTDATA, content_bomb_pdf, encrypt_pdf, make_pdf, needs_testdata
from PIL import Image
from pypdf import PdfReader, PdfWriter

from app.files import previews
from app.files.previews import PreviewUnavailable, page_preview
from app.files.store import FileStore, MissingFile


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


@needs_testdata
def test_renders_a_page_of_a_real_pdf(store: FileStore, tmp_path: Path) -> None:
    source = TESTDATA / "extraction/sample-files/pdflatex-4-pages.pdf"
    sha = store.put_bytes(source.read_bytes())
    cache = tmp_path / "cache"
    path = page_preview(store, cache, sha, 3, width=900)
    width, height = png_size(path)
    assert width == 900
    assert height == pytest.approx(900 * 842 / 595, abs=2)  # A4 portrait
    assert path.is_relative_to(cache)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_cached_preview_is_not_rendered_again(
    store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = store.put_bytes(make_pdf(pages=2))
    first = page_preview(store, tmp_path, sha, 1, width=300)

    def must_not_run(*args: object, **kwargs: object) -> dict:
        raise AssertionError("rendered twice")

    monkeypatch.setattr(previews, "run_sandboxed", must_not_run)
    assert page_preview(store, tmp_path, sha, 1, width=300) == first
    assert png_size(first)[0] == 300


def test_rotated_page_keeps_the_requested_width(store: FileStore, tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_pdf())))
    writer.pages[0].rotate(90)
    out = io.BytesIO()
    writer.write(out)
    sha = store.put_bytes(out.getvalue())
    width, height = png_size(page_preview(store, tmp_path, sha, 0, width=500))
    assert width == 500 and height < width


@pytest.mark.parametrize(("page", "width"), [(1, 900), (99, 900), (-1, 900), (0, 0), (0, 10**6)])
def test_bad_page_or_width(store: FileStore, tmp_path: Path, page: int, width: int) -> None:
    sha = store.put_bytes(make_pdf(pages=1))
    with pytest.raises(PreviewUnavailable):
        page_preview(store, tmp_path / "cache", sha, page, width=width)
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_password_protected_pdf_has_no_preview(store: FileStore, tmp_path: Path) -> None:
    sha = store.put_bytes(encrypt_pdf(make_pdf(), user_password="secret"))
    with pytest.raises(PreviewUnavailable):
        page_preview(store, tmp_path, sha, 0)


def test_missing_document_and_bad_hash(store: FileStore, tmp_path: Path) -> None:
    with pytest.raises(MissingFile):
        page_preview(store, tmp_path, "0" * 64, 0)
    with pytest.raises(ValueError):
        page_preview(store, tmp_path, "../../etc/passwd", 0)


def test_content_stream_bomb_is_contained(store: FileStore, tmp_path: Path) -> None:
    """PDFium inflates the whole content stream; past the memory limit it aborts, in the child."""
    sha = store.put_bytes(content_bomb_pdf(inflated_mb=512))
    with pytest.raises(PreviewUnavailable) as info:
        page_preview(store, tmp_path, sha, 0, memory_mb=256)
    assert str(info.value) in ("crashed", "memory")
