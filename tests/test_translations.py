"""Every interface text exists in Arabic and French, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parents[1] / "app" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _messages(language: str):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return [message for message in read_po(handle, locale=language) if message.id]


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_catalogue_is_complete_and_keeps_placeholders(language):
    for message in _messages(language):
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(targets), f"{language}: untranslated {sources[0]!r}"
        assert not message.fuzzy, f"{language}: fuzzy {sources[0]!r}"
        expected = set(PLACEHOLDER.findall(sources[-1]))
        for target in targets:
            # Arabic plural forms for 0, 1 and 2 spell the number out.
            assert set(PLACEHOLDER.findall(target)) <= expected, f"{language}: {target!r}"
            if len(targets) == 1:
                assert set(PLACEHOLDER.findall(target)) == expected, f"{language}: {target!r}"


def test_catalogues_cover_every_text_in_the_code(tmp_path):
    """Extract afresh, so a text added without `make extract-messages` is caught too."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "--quiet",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=TRANSLATIONS.parents[1],
        check=True,
    )
    with open(pot, "rb") as handle:
        extracted = {message.id for message in read_po(handle) if message.id}
    for language in ("ar", "fr"):
        translated = {message.id for message in _messages(language)}
        assert extracted <= translated, f"{language}: run `make extract-messages` and translate"
