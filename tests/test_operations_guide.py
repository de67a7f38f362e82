"""The operations guide lists every setting, so an administrator can trust its reference."""

from pathlib import Path

from config import defaults

ROOT = Path(__file__).resolve().parent.parent


def test_the_operations_guide_names_every_setting():
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    settings = [name for name in dir(defaults) if name.isupper()]
    assert len(settings) > 50
    missing = [name for name in settings if f"`{name}`" not in guide]
    assert not missing, f"docs/operations.md does not describe: {missing}"


def test_the_readme_links_the_operations_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/operations.md)" in readme
