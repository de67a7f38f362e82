"""Browser tests: the app served by werkzeug in a thread, driven by Debian's chromium.

Playwright's own browser downloads are not used (no internet where the tests run): the tests
launch /usr/bin/chromium and are skipped, with the package to install, when it is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = PROJECT_ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Replaces pytest-playwright's: Debian's chromium instead of a downloaded one."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium "
            "(or make system-packages-test)"
        )
    return {
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def base_url(live_server) -> str:
    """Replaces pytest-playwright's (session-wide, from --base-url): this test's live server."""
    return live_server


@pytest.fixture
def browser_context_args(base_url) -> dict:
    """Per test, since the base URL changes with each test's server."""
    return {
        "base_url": base_url,
        "viewport": {"width": 1280, "height": 900},
        "locale": "en-GB",  # the app picks its language from the switch, not from the browser
    }


@pytest.fixture
def page(context):
    """pytest-playwright's page, with shorter timeouts so a broken flow fails fast."""
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.set_default_navigation_timeout(15_000)
    return page


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def fresh_page(new_context):
    """fresh_page() -> a page in a new browser context (own cookies: one per person signing in),
    with the same short timeouts as `page`. The contexts are closed after the test."""

    def make():
        page = new_context().new_page()
        page.set_default_timeout(10_000)
        page.set_default_navigation_timeout(15_000)
        return page

    return make
