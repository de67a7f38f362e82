"""Font lookup for generated PDFs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.reports import fonts
from app.reports.fonts import ENV_FONT, ENV_FONT_BOLD, FontMissing, find_fallback_fonts, find_font


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the Debian font locations at empty directories."""
    monkeypatch.setattr(fonts, "_AMIRI_DIRS", (tmp_path / "amiri",))
    monkeypatch.setattr(fonts, "_NOTO_DIR", tmp_path / "noto")
    monkeypatch.setattr(fonts, "_DEJAVU_DIR", tmp_path / "dejavu")
    return tmp_path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not really a font")
    return path


def test_env_font_pointing_to_missing_file_raises(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_FONT, str(tmp_path / "nope.ttf"))
    with pytest.raises(FontMissing) as excinfo:
        find_font()
    message = str(excinfo.value)
    assert "apt-get install fonts-hosny-amiri" in message
    assert ENV_FONT in message
    assert "nope.ttf" in message


def test_env_font_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    regular = _touch(tmp_path / "Custom-Regular.ttf")
    monkeypatch.setenv(ENV_FONT, str(regular))
    assert find_font() == regular
    assert find_font(bold=True) == regular  # no bold variant configured


def test_env_bold_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    regular = _touch(tmp_path / "Custom-Regular.ttf")
    bold = _touch(tmp_path / "Custom-Bold.ttf")
    monkeypatch.setenv(ENV_FONT, str(regular))
    monkeypatch.setenv(ENV_FONT_BOLD, str(bold))
    assert find_font() == regular
    assert find_font(bold=True) == bold


def test_env_bold_font_missing_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_FONT, str(_touch(tmp_path / "Custom-Regular.ttf")))
    monkeypatch.setenv(ENV_FONT_BOLD, str(tmp_path / "missing-bold.ttf"))
    with pytest.raises(FontMissing, match="fonts-hosny-amiri"):
        find_font(bold=True)


def test_no_font_installed_raises(no_system_fonts: Path) -> None:
    with pytest.raises(FontMissing, match=r"apt-get install fonts-hosny-amiri"):
        find_font()
    with pytest.raises(FontMissing):
        find_font(bold=True)
    assert find_fallback_fonts() == []


def test_amiri_preferred(no_system_fonts: Path) -> None:
    amiri = no_system_fonts / "amiri"
    regular = _touch(amiri / "Amiri-Regular.ttf")
    _touch(no_system_fonts / "noto" / "NotoNaskhArabic-Regular.ttf")
    assert find_font() == regular
    assert find_font(bold=True) == regular  # no Amiri-Bold: Amiri regular beats Noto
    bold = _touch(amiri / "Amiri-Bold.ttf")
    assert find_font(bold=True) == bold


def test_noto_last_resort(no_system_fonts: Path) -> None:
    noto = no_system_fonts / "noto"
    sans = _touch(noto / "NotoSans-Regular.ttf")
    assert find_font() == sans
    naskh = _touch(noto / "NotoNaskhArabic-Regular.ttf")
    assert find_font() == naskh
    # Noto Naskh Arabic has no Latin letters: Noto Sans is offered as a fallback.
    assert find_fallback_fonts() == [sans]


def test_debian_amiri_installed(pdf_font: Path) -> None:
    assert pdf_font.is_file()
    assert pdf_font.suffix.lower() in {".ttf", ".otf"}
    assert find_font().resolve() not in {p.resolve() for p in find_fallback_fonts()}
